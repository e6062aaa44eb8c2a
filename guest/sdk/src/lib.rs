//! Write an imgbed policy: implement [`Policy`] for a type — only the methods whose
//! answers differ from the default policy — and export it with [`export_policy!`].
//!
//! ```ignore
//! use imgbed_policy_sdk::{export_policy, Policy, PolicyInfo, Principal, Rejection, Upload, Usage};
//!
//! struct TenFiles;
//!
//! impl Policy for TenFiles {
//!     fn info() -> PolicyInfo {
//!         PolicyInfo { name: "ten-files".into(), version: "1.0.0".into() }
//!     }
//!     fn admit(_who: Principal, _file: Upload, usage: Usage) -> Result<(), Rejection> {
//!         if usage.images >= 10 {
//!             return Err(Rejection { status: 403, code: "quota_exceeded".into(), message: "10 files each".into() });
//!         }
//!         Ok(())
//!     }
//! }
//!
//! export_policy!(TenFiles);
//! ```
//!
//! See `guest/README.md` for the walk from an empty crate to a swapped-in policy.

pub mod defaults;
pub mod fixtures;

/// The generated bindings of `imgbed:policy@2.1.0` (`wit/`): the `full-policy` world, the
/// 2.0 exports and the variant maker.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "full-policy",
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "imgbed_policy_sdk::bindings",
    });
}

pub use bindings::exports::imgbed::policy::variants::{MadeVariant, VariantFormat, VariantRequest};
pub use bindings::imgbed::policy::host::{self, Body, LogLevel};
pub use bindings::imgbed::policy::types::{
    Action, Facts, Judgement, Media, MediaKind, Piece, PolicyInfo, Principal, PrincipalKind, Proof, Rejection,
    RequestedAction, Span, Thumbnail, Upload, Usage, Verdict, Wanted,
};
/// The library the default policy is made of: decoders, metadata stripping, naming, access rules.
pub use imgbed_policy as kit;

// Refusals as rejections, decoded files as media, the body as something the kit reads.
imgbed_policy::policy_glue!();

/// A policy. Every method but [`Policy::info`] defaults to what the default policy does
/// (see [`defaults`]), so a policy is only what differs; an override may call the default
/// and adjust its answer. The host calls them in the order `wit/api.wit` states.
pub trait Policy {
    /// Name and version, as the admin API, logs and metrics show them.
    fn info() -> PolicyInfo;

    /// Checks the settings when the policy is loaded; an error refuses the policy.
    fn configure(settings: Vec<(String, String)>) -> Result<(), String> {
        defaults::configure(&settings)
    }

    /// Checks the policy on known inputs before it is activated.
    fn self_test() -> Result<(), String> {
        defaults::self_test()
    }

    /// May `principal` do `action`? Asked before any of a request's body is read.
    fn authorize(action: RequestedAction, principal: Principal, facts: Facts) -> Result<(), Rejection> {
        defaults::authorize(&action, &principal, &facts)
    }

    /// May this received file be kept? `usage` counts the owner's stored files and the
    /// earlier files of the same request. The default admits every file.
    fn admit(principal: Principal, file: Upload, usage: Usage) -> Result<(), Rejection> {
        let _ = (principal, file, usage);
        Ok(())
    }

    /// The metadata to strip, or what the file is and its thumbnail.
    fn judge(file: Upload, data: &Body, wanted: Wanted) -> Result<Judgement, Rejection> {
        defaults::judge(&file, data, &wanted)
    }

    /// The stored name under `rule`; `attempt` grows while a name is taken.
    fn name(file: Upload, media: Media, rule: String, attempt: u32) -> Result<String, Rejection> {
        defaults::name(&file, &media, &rule, attempt)
    }

    /// A variant (another width and format) of a stored image, described by `file`
    /// (contract 2.1). The default is the library's maker (see [`defaults::make_variant`]).
    fn make_variant(file: Upload, data: &Body, request: VariantRequest) -> Result<MadeVariant, Rejection> {
        defaults::make_variant(&file, data, &request)
    }
}

/// Exports a [`Policy`] as the component's `imgbed:policy/api@2.1.0` and
/// `imgbed:policy/variants@2.1.0`. Use it once, at the
/// crate's root.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        #[doc(hidden)]
        pub struct __ImgbedPolicyExports;

        impl $crate::bindings::exports::imgbed::policy::api::Guest for __ImgbedPolicyExports {
            fn info() -> $crate::PolicyInfo {
                <$policy as $crate::Policy>::info()
            }
            fn configure(settings: ::std::vec::Vec<(::std::string::String, ::std::string::String)>) -> ::std::result::Result<(), ::std::string::String> {
                <$policy as $crate::Policy>::configure(settings)
            }
            fn self_test() -> ::std::result::Result<(), ::std::string::String> {
                <$policy as $crate::Policy>::self_test()
            }
            fn authorize(action: $crate::RequestedAction, principal: $crate::Principal, facts: $crate::Facts) -> ::std::result::Result<(), $crate::Rejection> {
                <$policy as $crate::Policy>::authorize(action, principal, facts)
            }
            fn admit(principal: $crate::Principal, file: $crate::Upload, usage: $crate::Usage) -> ::std::result::Result<(), $crate::Rejection> {
                <$policy as $crate::Policy>::admit(principal, file, usage)
            }
            fn judge(file: $crate::Upload, data: &$crate::Body, wanted: $crate::Wanted) -> ::std::result::Result<$crate::Judgement, $crate::Rejection> {
                <$policy as $crate::Policy>::judge(file, data, wanted)
            }
            fn name(file: $crate::Upload, media: $crate::Media, rule: ::std::string::String, attempt: u32) -> ::std::result::Result<::std::string::String, $crate::Rejection> {
                <$policy as $crate::Policy>::name(file, media, rule, attempt)
            }
        }

        impl $crate::bindings::exports::imgbed::policy::variants::Guest for __ImgbedPolicyExports {
            fn make_variant(file: $crate::Upload, data: &$crate::Body, request: $crate::VariantRequest) -> ::std::result::Result<$crate::MadeVariant, $crate::Rejection> {
                <$policy as $crate::Policy>::make_variant(file, data, request)
            }
        }

        $crate::bindings::export_world!(__ImgbedPolicyExports with_types_in $crate::bindings);
    };
}

//! Which contract a component speaks, and its exports behind one face: 2.0 called
//! directly, 1.0 through the adapter (`v1.rs`). Everything above this module speaks 2.0.

use std::cell::OnceCell;
use std::sync::OnceLock;

use wasmtime::component::{Component, ComponentExportIndex, Instance, InstancePre, Resource, TypedFunc};
use wasmtime::{Engine, Store};

use super::bindings::{self, BodyFile, State};
use super::{v1, variants, Action, PolicyError, RequestedAction};

/// The contract versions this host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    V2,
    V1,
}

impl Contract {
    /// The WIT package, as the admin API shows it.
    pub fn package(self) -> &'static str {
        match self {
            Contract::V2 => "imgbed:policy@2.0.0",
            Contract::V1 => "imgbed:policy@1.0.0",
        }
    }

    /// The contract a component exports, or a refusal naming the ones this host runs.
    pub fn of(engine: &Engine, component: &Component) -> Result<Contract, PolicyError> {
        let ty = component.component_type();
        let exports: Vec<String> = ty.exports(engine).map(|(name, _)| name.to_string()).collect();
        let speaks = |major: &str| exports.iter().any(|n| n.starts_with(&format!("imgbed:policy/api@{major}.")));
        if speaks("2") {
            return Ok(Contract::V2);
        }
        if speaks("1") {
            return Ok(Contract::V1);
        }
        let supported = format!("{} (and imgbed:policy@1.0.0)", super::CONTRACT);
        Err(PolicyError::Refused(match exports.iter().find(|n| n.starts_with("imgbed:policy/api@")) {
            Some(n) => format!("component exports {n}, this host runs {supported}"),
            None => format!(
                "component does not export the imgbed:policy/api interface of {supported}; exports: {exports:?}"
            ),
        }))
    }
}

/// A component ready to instantiate, by contract; a 2.x component with the optional
/// exports of later minor versions it has (2.1: `variants`).
pub enum Pre {
    V2 {
        pre: bindings::PolicyPre<State>,
        variants: Option<variants::Indices>,
        /// `authorize`, once the exports of a first instance were type-checked (see
        /// [`Pre::checked`]): later instances call it without type-checking every export.
        authorize: OnceLock<ComponentExportIndex>,
    },
    V1(v1::PolicyPre<State>),
}

impl Pre {
    pub fn new(contract: Contract, pre: InstancePre<State>) -> wasmtime::Result<Pre> {
        Ok(match contract {
            Contract::V2 => Pre::V2 {
                variants: variants::Indices::find(&pre),
                pre: bindings::PolicyPre::new(pre)?,
                authorize: OnceLock::new(),
            },
            Contract::V1 => Pre::V1(v1::PolicyPre::new(pre)?),
        })
    }

    /// Whether the component exports the variant maker (contract 2.1).
    pub fn makes_variants(&self) -> bool {
        matches!(self, Pre::V2 { variants: Some(_), .. })
    }

    /// Called with the first instance of this component (the one that answered `info`):
    /// type-checks its `authorize` against the contract once. Every instance of one
    /// component has the same types, so later instances call it without checking again.
    pub fn checked(&self, exports: &Exports, store: &mut Store<State>) {
        if let (Pre::V2 { pre, authorize, .. }, Exports::V2(v2)) = (self, exports) {
            let Some(at) = authorize_index(pre.instance_pre().component()) else { return };
            let typed = v2.instance.get_typed_func::<AuthorizeParams<'_>, AuthorizeResult>(&mut *store, at);
            if typed.is_ok() {
                let _ = authorize.set(at);
            }
        }
    }

    /// A fresh instance. Its exports are looked up (and type-checked) when first called.
    pub fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<Exports> {
        Ok(match self {
            Pre::V2 { pre, variants, authorize } => Exports::V2(V2 {
                instance: pre.instance_pre().instantiate(&mut *store)?,
                authorize: authorize.get().copied(),
                api: OnceCell::new(),
                variants: variants.clone(),
                maker: OnceCell::new(),
            }),
            Pre::V1(pre) => Exports::V1(v1::Adapter::owned(pre.instantiate(store)?)),
        })
    }
}

/// The interface, as the bindings look it up (the exact name, else the newest 2.x).
const API: &str = "imgbed:policy/api@2.1.0";

/// Where `authorize` is in a component exporting `imgbed:policy/api@2.x`.
fn authorize_index(component: &Component) -> Option<ComponentExportIndex> {
    let (_, api) = component.get_export(None, API)?;
    component.get_export_index(Some(&api), "authorize")
}

/// The exports of one 2.x instance, looked up when first needed: a session that only
/// authorizes pays for one export, not for type-checking all of them.
pub struct V2 {
    instance: Instance,
    /// `authorize`, checked to have the contract's type (see [`Pre::checked`]).
    authorize: Option<ComponentExportIndex>,
    api: OnceCell<bindings::Policy>,
    variants: Option<variants::Indices>,
    maker: OnceCell<variants::Maker>,
}

impl V2 {
    fn api(&self, store: &mut Store<State>) -> wasmtime::Result<&bindings::Policy> {
        if let Some(api) = self.api.get() {
            return Ok(api);
        }
        let api = bindings::Policy::new(store, &self.instance)?;
        Ok(self.api.get_or_init(|| api))
    }

    /// The variant maker (contract 2.1), if the component has one.
    fn maker(&self, store: &mut Store<State>) -> wasmtime::Result<Option<&variants::Maker>> {
        let Some(found) = &self.variants else { return Ok(None) };
        if let Some(maker) = self.maker.get() {
            return Ok(Some(maker));
        }
        let maker = found.load(store, &self.instance)?;
        Ok(Some(self.maker.get_or_init(|| maker)))
    }

    fn authorize(
        &self,
        store: &mut Store<State>,
        action: &bindings::RequestedAction,
        who: &bindings::Principal,
        facts: &bindings::Facts,
    ) -> wasmtime::Result<Result<(), bindings::Rejection>> {
        let Some(func) = self.authorize.and_then(|at| self.instance.get_func(&mut *store, at)) else {
            return self.api(store)?.imgbed_policy_api().call_authorize(store, action, who, facts);
        };
        // SAFETY: `authorize` is set only after this export of an instance of the same
        // component was type-checked as exactly these types (`Pre::checked`).
        let typed = unsafe { TypedFunc::<AuthorizeParams<'_>, AuthorizeResult>::new_unchecked(func) };
        let (out,) = typed.call(&mut *store, (action, who, facts))?;
        Ok(out)
    }
}

type AuthorizeParams<'a> = (&'a bindings::RequestedAction, &'a bindings::Principal, &'a bindings::Facts);
type AuthorizeResult = (Result<(), bindings::Rejection>,);

/// The exports of one instance.
pub enum Exports {
    V2(V2),
    V1(v1::Owned),
}

impl Exports {
    pub fn info(&self, store: &mut Store<State>) -> wasmtime::Result<bindings::PolicyInfo> {
        match self {
            Exports::V2(p) => p.api(store)?.imgbed_policy_api().call_info(store),
            Exports::V1(p) => p.adapter().info(store),
        }
    }

    pub fn configure(
        &self,
        store: &mut Store<State>,
        settings: &[(String, String)],
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Exports::V2(p) => p.api(store)?.imgbed_policy_api().call_configure(store, settings),
            Exports::V1(p) => p.adapter().configure(store, settings),
        }
    }

    pub fn self_test(&self, store: &mut Store<State>) -> wasmtime::Result<Result<(), String>> {
        match self {
            Exports::V2(p) => p.api(store)?.imgbed_policy_api().call_self_test(store),
            Exports::V1(p) => p.adapter().self_test(store),
        }
    }

    pub fn authorize(
        &self,
        store: &mut Store<State>,
        action: &bindings::RequestedAction,
        who: &bindings::Principal,
        facts: &bindings::Facts,
    ) -> wasmtime::Result<Result<(), bindings::Rejection>> {
        match self {
            Exports::V2(p) => p.authorize(store, action, who, facts),
            // Actions no 1.0 host asked about are not put to a 1.0 policy: it could only
            // refuse what it never knew (uploader configs need an account token anyway;
            // variants are served to anyone, like the files).
            Exports::V1(_)
                if matches!(action, RequestedAction::Known(Action::AccountUploaderConfig | Action::ImageVariant)) =>
            {
                Ok(Ok(()))
            }
            Exports::V1(p) => p.adapter().authorize(store, action, who, facts),
        }
    }

    /// `admit`; a 1.0 policy has none (it enforced quotas while inspecting) and admits all.
    pub fn admit(
        &self,
        store: &mut Store<State>,
        who: &bindings::Principal,
        file: &bindings::Upload,
        usage: bindings::Usage,
    ) -> wasmtime::Result<Result<(), bindings::Rejection>> {
        match self {
            Exports::V2(p) => p.api(store)?.imgbed_policy_api().call_admit(store, who, file, usage),
            Exports::V1(_) => Ok(Ok(())),
        }
    }

    pub fn judge(
        &self,
        store: &mut Store<State>,
        file: &bindings::Upload,
        body: &Resource<BodyFile>,
        wanted: &bindings::Wanted,
        rearm: &dyn Fn(&mut Store<State>),
    ) -> wasmtime::Result<Result<bindings::Judgement, bindings::Rejection>> {
        match self {
            Exports::V2(p) => {
                let borrowed = Resource::<BodyFile>::new_borrow(body.rep());
                p.api(store)?.imgbed_policy_api().call_judge(store, file, borrowed, *wanted)
            }
            Exports::V1(p) => p.adapter().judge(store, file, body.rep(), wanted, rearm),
        }
    }

    /// Whether the instance has the variant maker (contract 2.1).
    pub fn makes_variants(&self, store: &mut Store<State>) -> wasmtime::Result<bool> {
        match self {
            Exports::V2(p) => Ok(p.maker(store)?.is_some()),
            Exports::V1(_) => Ok(false),
        }
    }

    /// `make-variant`; `None` without the variant maker.
    pub fn make_variant(
        &self,
        store: &mut Store<State>,
        file: &bindings::Upload,
        body: &Resource<BodyFile>,
        request: variants::VariantRequest,
    ) -> wasmtime::Result<Option<Result<variants::MadeVariant, bindings::Rejection>>> {
        let Exports::V2(p) = self else { return Ok(None) };
        let Some(maker) = p.maker(store)? else { return Ok(None) };
        let borrowed = Resource::<BodyFile>::new_borrow(body.rep());
        maker.call_make_variant(store, file, borrowed, request).map(Some)
    }

    pub fn name(
        &self,
        store: &mut Store<State>,
        file: &bindings::Upload,
        media: &bindings::Media,
        rule: &str,
        attempt: u32,
    ) -> wasmtime::Result<Result<String, bindings::Rejection>> {
        match self {
            Exports::V2(p) => p.api(store)?.imgbed_policy_api().call_name(store, file, media, rule, attempt),
            Exports::V1(p) => p.adapter().name(store, file, media, rule, attempt),
        }
    }
}

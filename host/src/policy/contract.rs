//! Which contract a component speaks, and its exports behind one face: 2.0 called
//! directly, 1.0 through the adapter (`v1.rs`). Everything above this module speaks 2.0.

use wasmtime::component::{Component, InstancePre, Resource};
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
    V2(bindings::PolicyPre<State>, Option<variants::Indices>),
    V1(v1::PolicyPre<State>),
}

impl Pre {
    pub fn new(contract: Contract, pre: InstancePre<State>) -> wasmtime::Result<Pre> {
        Ok(match contract {
            Contract::V2 => {
                let variants = variants::Indices::find(&pre);
                Pre::V2(bindings::PolicyPre::new(pre)?, variants)
            }
            Contract::V1 => Pre::V1(v1::PolicyPre::new(pre)?),
        })
    }

    /// Whether the component exports the variant maker (contract 2.1).
    pub fn makes_variants(&self) -> bool {
        matches!(self, Pre::V2(_, Some(_)))
    }

    /// A fresh instance: its exports, and its variant maker if it has one.
    pub fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<(Exports, Option<variants::Maker>)> {
        Ok(match self {
            Pre::V2(pre, None) => (Exports::V2(pre.instantiate(store)?), None),
            Pre::V2(pre, Some(found)) => {
                let instance = pre.instance_pre().instantiate(&mut *store)?;
                let policy = bindings::Policy::new(&mut *store, &instance)?;
                (Exports::V2(policy), Some(found.load(store, &instance)?))
            }
            Pre::V1(pre) => (Exports::V1(v1::Adapter::owned(pre.instantiate(store)?)), None),
        })
    }
}

/// The exports of one instance.
pub enum Exports {
    V2(bindings::Policy),
    V1(v1::Owned),
}

impl Exports {
    pub fn info(&self, store: &mut Store<State>) -> wasmtime::Result<bindings::PolicyInfo> {
        match self {
            Exports::V2(p) => p.imgbed_policy_api().call_info(store),
            Exports::V1(p) => p.adapter().info(store),
        }
    }

    pub fn configure(
        &self,
        store: &mut Store<State>,
        settings: &[(String, String)],
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Exports::V2(p) => p.imgbed_policy_api().call_configure(store, settings),
            Exports::V1(p) => p.adapter().configure(store, settings),
        }
    }

    pub fn self_test(&self, store: &mut Store<State>) -> wasmtime::Result<Result<(), String>> {
        match self {
            Exports::V2(p) => p.imgbed_policy_api().call_self_test(store),
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
            Exports::V2(p) => p.imgbed_policy_api().call_authorize(store, action, who, facts),
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
            Exports::V2(p) => p.imgbed_policy_api().call_admit(store, who, file, usage),
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
                p.imgbed_policy_api().call_judge(store, file, borrowed, *wanted)
            }
            Exports::V1(p) => p.adapter().judge(store, file, body.rep(), wanted, rearm),
        }
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
            Exports::V2(p) => p.imgbed_policy_api().call_name(store, file, media, rule, attempt),
            Exports::V1(p) => p.adapter().name(store, file, media, rule, attempt),
        }
    }
}

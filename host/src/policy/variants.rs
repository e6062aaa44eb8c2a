//! The optional variant maker of contract 2.1 (`wit/variants.wit`): looked up on its own,
//! so a component built for 2.0 (or 1.0) without it still loads and has none. The host's
//! checks of what it makes are the variant cache's (`crate::variants::maker::check`).

use std::fs::File;

use wasmtime::component::{Instance, InstancePre};
use wasmtime::Store;

use super::bindings::State;
use super::{LoadedPolicy, PolicyError, Rejection, Session, Upload};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "variant-maker",
    with: {
        "imgbed:policy/types": super::bindings::imgbed::policy::types,
        "imgbed:policy/host": super::bindings::imgbed::policy::host,
    },
});

use exports::imgbed::policy::variants as wit;
pub use wit::{MadeVariant, VariantFormat, VariantRequest};

/// The maker's export in one instance.
pub type Maker = wit::Guest;

/// Where the export is in a component that has it.
#[derive(Clone)]
pub struct Indices(wit::GuestIndices);

impl Indices {
    /// None when the component does not export `imgbed:policy/variants@2.x` by the names
    /// this host knows (its types are checked when a first instance is loaded).
    pub fn find(pre: &InstancePre<State>) -> Option<Self> {
        wit::GuestIndices::new(pre).ok().map(Indices)
    }

    pub fn load(&self, store: &mut Store<State>, instance: &Instance) -> wasmtime::Result<Maker> {
        self.0.load(store, instance)
    }
}

impl Session {
    /// `make-variant`: lends the stored file as a body for the call (with the full
    /// deadline). `None` when the policy has no variant maker.
    pub fn make_variant(
        &mut self,
        upload: &Upload,
        file: &File,
        request: VariantRequest,
    ) -> Result<Option<Result<MadeVariant, Rejection>>, PolicyError> {
        if !self.exports.makes_variants(&mut self.store).map_err(PolicyError::from_call)? {
            return Ok(None);
        }
        let body = self.body(file, upload.size)?;
        self.rearm();
        let out = self.exports.make_variant(&mut self.store, upload, &body, request);
        let _ = self.store.data_mut().table.delete(body);
        match out.map_err(PolicyError::from_call)? {
            None => Ok(None),
            Some(Ok(made)) => Ok(Some(Ok(made))),
            Some(Err(r)) => Ok(Some(Err(self.rejected(r)?))),
        }
    }
}

impl LoadedPolicy {
    /// Whether the policy makes variants (it exports the variant maker of contract 2.1).
    pub fn makes_variants(&self) -> bool {
        self.pre.makes_variants()
    }

    /// The contract it speaks, as the admin API and `imgbed policy check` show it: 2.1.0
    /// with the variant maker, else its contract's package (2.0.0, or 1.0.0 adapted).
    pub fn package(&self) -> &'static str {
        if self.makes_variants() {
            super::CONTRACT
        } else {
            self.contract.package()
        }
    }
}

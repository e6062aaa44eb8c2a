//! The words of the contract as the host uses them: action and principal-kind names
//! (logs, metrics, shadow records, 1.0 policies), empty facts, media kind names.

use super::{Action, Facts, MediaKind, PrincipalKind, Proof, RequestedAction};

/// The dotted name of an action (`image.upload`, `admin.remove-user`, ...), as logs,
/// metrics, shadow records and 1.0 policies know it.
pub fn action_name(action: &RequestedAction) -> std::borrow::Cow<'static, str> {
    let known = match action {
        RequestedAction::Other(name) => return name.clone().into(),
        RequestedAction::Known(a) => a,
    };
    match known {
        Action::ImageUpload => "image.upload",
        Action::ImageList => "image.list",
        Action::ImageInfo => "image.info",
        Action::ImageFormat => "image.format",
        Action::ImageDelete => "image.delete",
        Action::ImageVariant => "image.variant",
        Action::AccountRegister => "account.register",
        Action::AccountRecover => "account.recover",
        Action::AccountRemove => "account.remove",
        Action::AccountUploaderConfig => "account.uploader-config",
        Action::AdminUsers => "admin.users",
        Action::AdminRemoveUser => "admin.remove-user",
        Action::AdminInitDb => "admin.init-db",
    }
    .into()
}

/// The name of a principal kind: "anonymous", "user" or "admin".
pub fn kind_name(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::Anonymous => "anonymous",
        PrincipalKind::User => "user",
        PrincipalKind::Admin => "admin",
    }
}

/// Facts with nothing in them; callers fill in what their action has.
pub fn facts() -> Facts {
    Facts { owner: None, image: None, mail: None, proof: None, content_length: None, jwt: false, extra: Vec::new() }
}

/// The name of a media kind, as records and answers show it.
pub fn media_kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Animation => "animation",
        MediaKind::Video => "video",
    }
}

/// Every action contract 2.0 names.
pub const ACTIONS: [Action; 13] = [
    Action::ImageUpload,
    Action::ImageList,
    Action::ImageInfo,
    Action::ImageFormat,
    Action::ImageDelete,
    Action::ImageVariant,
    Action::AccountRegister,
    Action::AccountRecover,
    Action::AccountRemove,
    Action::AccountUploaderConfig,
    Action::AdminUsers,
    Action::AdminRemoveUser,
    Action::AdminInitDb,
];

/// An action from its dotted name: a known one, else `other` (tools, tests).
pub fn parse_action(name: &str) -> RequestedAction {
    ACTIONS
        .iter()
        .find(|a| action_name(&RequestedAction::Known(**a)) == name)
        .map_or_else(|| RequestedAction::Other(name.to_string()), |a| RequestedAction::Known(*a))
}

/// A principal kind from its name.
pub fn parse_kind(name: &str) -> Option<PrincipalKind> {
    [PrincipalKind::Anonymous, PrincipalKind::User, PrincipalKind::Admin].into_iter().find(|k| kind_name(*k) == name)
}

/// Facts from `key=value` pairs as 1.0 knew them (`owner`, `name`, `mail`, `via`, `jwt`,
/// `content_length`); other keys go to `extra` (tools, tests).
pub fn facts_from_pairs(pairs: &[(String, String)]) -> Facts {
    let mut facts = facts();
    for (k, v) in pairs {
        match k.as_str() {
            "owner" => facts.owner = Some(v.clone()),
            "name" => facts.image = Some(v.clone()),
            "mail" => facts.mail = Some(v.clone()),
            "via" if v == "token" => facts.proof = Some(Proof::Token),
            "via" if v == "check" => facts.proof = Some(Proof::CheckCode),
            "jwt" => facts.jwt = v == "true",
            "content_length" if v.parse::<u64>().is_ok() => facts.content_length = v.parse().ok(),
            _ => facts.extra.push((k.clone(), v.clone())),
        }
    }
    facts
}

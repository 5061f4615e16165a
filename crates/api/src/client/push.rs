//! Push rules: the server defaults merged with the user's own rules.

use accord_service::{Services, push_rules::find_rule};
use ruma::api::client::push::{
    delete_pushrule, get_pushrule, get_pushrule_actions, get_pushrule_enabled, get_pushrules_all,
    get_pushrules_global_scope, set_pushrule, set_pushrule_actions, set_pushrule_enabled,
};

use crate::{Result, Ruma};

/// # `GET /_matrix/client/v3/pushrules/`
pub async fn get_pushrules_all_route(
    services: Services,
    request: Ruma<get_pushrules_all::v3::Request>,
) -> Result<get_pushrules_all::v3::Response> {
    Ok(get_pushrules_all::v3::Response::new(
        services.push_rules.ruleset(&request.auth.user_id)?,
    ))
}

/// # `GET /_matrix/client/v3/pushrules/global/`
pub async fn get_pushrules_global_scope_route(
    services: Services,
    request: Ruma<get_pushrules_global_scope::v3::Request>,
) -> Result<get_pushrules_global_scope::v3::Response> {
    Ok(get_pushrules_global_scope::v3::Response::new(
        services.push_rules.ruleset(&request.auth.user_id)?,
    ))
}

/// # `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
pub async fn get_pushrule_route(
    services: Services,
    request: Ruma<get_pushrule::v3::Request>,
) -> Result<get_pushrule::v3::Response> {
    let ruleset = services.push_rules.ruleset(&request.auth.user_id)?;
    let rule = find_rule(&ruleset, request.body.kind, &request.body.rule_id)?;
    Ok(get_pushrule::v3::Response::new(rule.to_owned().into()))
}

/// # `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
pub async fn set_pushrule_route(
    services: Services,
    request: Ruma<set_pushrule::v3::Request>,
) -> Result<set_pushrule::v3::Response> {
    let body = request.body;
    services.push_rules.set(
        &request.auth.user_id,
        body.rule,
        body.after.as_deref(),
        body.before.as_deref(),
    )?;
    Ok(set_pushrule::v3::Response::new())
}

/// # `DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
pub async fn delete_pushrule_route(
    services: Services,
    request: Ruma<delete_pushrule::v3::Request>,
) -> Result<delete_pushrule::v3::Response> {
    services
        .push_rules
        .delete(&request.auth.user_id, request.body.kind, &request.body.rule_id)?;
    Ok(delete_pushrule::v3::Response::new())
}

/// # `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
pub async fn get_pushrule_enabled_route(
    services: Services,
    request: Ruma<get_pushrule_enabled::v3::Request>,
) -> Result<get_pushrule_enabled::v3::Response> {
    let ruleset = services.push_rules.ruleset(&request.auth.user_id)?;
    let rule = find_rule(&ruleset, request.body.kind, &request.body.rule_id)?;
    Ok(get_pushrule_enabled::v3::Response::new(rule.enabled()))
}

/// # `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
pub async fn set_pushrule_enabled_route(
    services: Services,
    request: Ruma<set_pushrule_enabled::v3::Request>,
) -> Result<set_pushrule_enabled::v3::Response> {
    let body = request.body;
    services
        .push_rules
        .set_enabled(&request.auth.user_id, body.kind, &body.rule_id, body.enabled)?;
    Ok(set_pushrule_enabled::v3::Response::new())
}

/// # `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
pub async fn get_pushrule_actions_route(
    services: Services,
    request: Ruma<get_pushrule_actions::v3::Request>,
) -> Result<get_pushrule_actions::v3::Response> {
    let ruleset = services.push_rules.ruleset(&request.auth.user_id)?;
    let rule = find_rule(&ruleset, request.body.kind, &request.body.rule_id)?;
    Ok(get_pushrule_actions::v3::Response::new(rule.actions().to_vec()))
}

/// # `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
pub async fn set_pushrule_actions_route(
    services: Services,
    request: Ruma<set_pushrule_actions::v3::Request>,
) -> Result<set_pushrule_actions::v3::Response> {
    let body = request.body;
    services
        .push_rules
        .set_actions(&request.auth.user_id, body.kind, &body.rule_id, body.actions)?;
    Ok(set_pushrule_actions::v3::Response::new())
}

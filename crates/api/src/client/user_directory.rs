//! `POST /_matrix/client/v3/user_directory/search`; who is found is
//! `Services::search_user_directory`'s to say.

use accord_service::{Services, rate_limits::RateClass};
use ruma::api::client::user_directory::search_users::v3 as search_users;

use crate::{Result, Ruma, count::count};

/// The most results one search returns, whatever the `limit` asked.
const MAX_LIMIT: usize = 100;

/// # `POST /_matrix/client/v3/user_directory/search`
pub async fn search_users_route(
    services: Services,
    request: Ruma<search_users::Request>,
) -> Result<search_users::Response> {
    services
        .rate_limits
        .check_user(RateClass::UserDirectory, &request.auth)?;
    let limit = count(request.body.limit).clamp(1, MAX_LIMIT);
    let (found, limited) = services.search_user_directory(&request.auth, &request.body.search_term, limit)?;
    let results = found
        .into_iter()
        .map(|user| {
            let mut entry = search_users::User::new(user.user_id);
            entry.display_name = user.display_name;
            entry.avatar_url = user.avatar_url.map(Into::into);
            entry
        })
        .collect();
    Ok(search_users::Response::new(results, limited))
}

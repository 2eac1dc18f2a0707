//! The binary's WeChat glue: which account runs, drawing the login QR, and serving
//! logins to the API.

mod logins;
pub mod qr;

use std::sync::Arc;

use anyhow::Context;
use herald_core::Adapter;
use herald_core::config::Config;
use herald_platforms::weixin::account::{self, SavedAccount};
use herald_platforms::weixin::{WeixinAccount, WeixinAdapter, WeixinSettings};
use herald_store::{Store, StoreAdapterState};

use crate::home::Home;

pub use logins::{OnConfirmed, POLL_GAP, WeixinLogins};

/// The account WeChat runs with, in Hermes's order: `WEIXIN_TOKEN` with
/// `WEIXIN_ACCOUNT_ID`; `WEIXIN_ACCOUNT_ID` alone (the token from its account file);
/// and, where Hermes would stay off, herald also takes the token's own account id
/// (`<bot>@im.bot:<secret>`) or else the newest account `herald login weixin` saved.
pub fn configured_account(home: &Home, config: &Config) -> anyhow::Result<Option<SavedAccount>> {
    let w = &config.weixin;
    let dir = account::accounts_dir(&home.dir);
    let token = w.usable_token().map_err(|e| anyhow::anyhow!(e))?;
    let from_env = |account_id: String, token: &str| SavedAccount {
        account_id,
        token: token.to_string(),
        base_url: w.base_url.clone(),
        user_id: String::new(),
        saved_at: 0,
    };
    Ok(match (token, w.account_id.clone()) {
        (Some(token), Some(id)) => Some(from_env(id, token)),
        (None, Some(id)) => Some(account::load(&dir, &id).with_context(|| format!("WEIXIN_ACCOUNT_ID={id}"))?),
        (Some(token), None) => match token.split_once(':').map(|(id, _)| id).filter(|id| id.ends_with("@im.bot")) {
            Some(id) => Some(from_env(id.to_string(), token)),
            None => anyhow::bail!(
                "WEIXIN_TOKEN is set but WEIXIN_ACCOUNT_ID is not, and the token does not name its account \
                 (<bot>@im.bot:<secret>); set WEIXIN_ACCOUNT_ID to the bot's id"
            ),
        },
        (None, None) => account::list(&dir)?.into_iter().next(),
    })
}

/// The WeChat adapter for `account`, keeping its cursor and context tokens in the
/// store under the account's own namespace.
pub fn adapter(
    home: &Home,
    config: &Config,
    store: &Arc<dyn Store>,
    account: SavedAccount,
) -> anyhow::Result<Arc<dyn Adapter>> {
    let state = Arc::new(StoreAdapterState::new(store.clone(), "weixin", Some(&account.account_id)));
    let account = WeixinAccount {
        account_id: account.account_id,
        token: account.token,
        base_url: if account.base_url.is_empty() { config.weixin.base_url.clone() } else { account.base_url },
        user_id: Some(account.user_id).filter(|u| !u.is_empty()),
    };
    let settings = WeixinSettings::new(
        config.weixin.clone(),
        account,
        home.dir.join("cache"),
        config.gateway.max_inbound_media_bytes,
        state,
    );
    let adapter = WeixinAdapter::new(settings).context("cannot set up WeChat")?;
    Ok(Arc::new(adapter))
}

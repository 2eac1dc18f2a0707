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

/// The account WeChat runs with, in Hermes's order: `WEIXIN_TOKEN` (with
/// `WEIXIN_ACCOUNT_ID`, or the id the token names: the adapter's own
/// [`WeixinAccount::from_config`]); `WEIXIN_ACCOUNT_ID` alone (the token from its account
/// file); and, where Hermes would stay off, the newest account `herald login weixin` saved.
pub fn configured_account(home: &Home, config: &Config) -> anyhow::Result<Option<WeixinAccount>> {
    if let Some(account) = WeixinAccount::from_config(&config.weixin)? {
        return Ok(Some(account));
    }
    let dir = account::accounts_dir(&home.dir);
    let saved = match &config.weixin.account_id {
        Some(id) => Some(account::load(&dir, id).with_context(|| format!("WEIXIN_ACCOUNT_ID={id}"))?),
        None => account::list(&dir)?.into_iter().next(),
    };
    Ok(saved.map(|a| saved_account(config, a)))
}

/// A saved login as the adapter takes it; an account saved without a base URL uses
/// `WEIXIN_BASE_URL`.
pub fn saved_account(config: &Config, account: SavedAccount) -> WeixinAccount {
    WeixinAccount {
        account_id: account.account_id,
        token: account.token,
        base_url: if account.base_url.is_empty() { config.weixin.base_url.clone() } else { account.base_url },
        user_id: Some(account.user_id).filter(|u| !u.is_empty()),
    }
}

/// The WeChat adapter for `account`, keeping its cursor and context tokens in the
/// store under the account's own namespace.
pub fn adapter(
    home: &Home,
    config: &Config,
    store: &Arc<dyn Store>,
    account: WeixinAccount,
) -> anyhow::Result<Arc<dyn Adapter>> {
    let state = Arc::new(StoreAdapterState::new(store.clone(), "weixin", Some(&account.account_id)));
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

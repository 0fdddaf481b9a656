//! Accounts and sign-in: registration, login with throttling, refresh-token
//! rotation with reuse detection, logout, password changes, and turning an
//! access token into the user it speaks for.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::person::{Email, PersonName};
use crate::ports::{
    AccessClaims, AccessTokens, Actor, AuditEntry, AuditLog, CalendarRepository, Clock,
    LoginThrottle, NewUser, PasswordHasher, Pause, RotateError, Session, SessionRepository,
    StoreUserError, UserRepository,
};
use crate::user::{NewPassword, RefreshToken, Role, SessionId, User, UserId, account_key};

/// How failed sign-ins are throttled (OWASP ASVS 2.2.1: no hard lock that
/// anyone can put on anyone's account):
///
/// - `per_account` failures for one account **from one client address**
///   within `window` refuse that address's further tries for that account
///   until the oldest failure leaves the window. Other addresses are not
///   locked out of the account: the right password from elsewhere works.
/// - `per_address` failures from one address (whatever the accounts) refuse
///   every sign-in from that address the same way.
/// - Failures for an account from anywhere slow its sign-ins down: before the
///   password is checked the answer waits [`ThrottlePolicy::backoff`] — a
///   delay that doubles from `backoff_base` with each recent failure, up to
///   `backoff_max`. Never a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub window: Duration,
    pub per_account: u32,
    pub per_address: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            window: Duration::minutes(15),
            per_account: 5,
            per_address: 20,
            backoff_base: Duration::milliseconds(250),
            backoff_max: Duration::seconds(2),
        }
    }
}

impl ThrottlePolicy {
    /// The wait before checking a password for an account that failed
    /// `failures` times within the window (from any address): none without
    /// failures, then `backoff_base` doubling with each failure, at most
    /// `backoff_max`.
    pub fn backoff(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::zero();
        }
        let doublings = (failures - 1).min(30);
        let factor = 1i32 << doublings;
        self.backoff_base
            .checked_mul(factor)
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountSettings {
    /// Lifetime of an access token (at most 15 minutes).
    pub access_ttl: Duration,
    /// Absolute lifetime of a sign-in; rotation does not extend it.
    pub session_ttl: Duration,
    /// Anyone may register (as staff) once the first administrator exists.
    pub allow_registration: bool,
    pub throttle: ThrottlePolicy,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::minutes(15),
            session_ttl: Duration::days(30),
            allow_registration: false,
            throttle: ThrottlePolicy::default(),
        }
    }
}

/// What a successful sign-in or refresh hands out.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: RefreshToken,
    pub expires_in: Duration,
    pub session: SessionId,
    pub user: User,
}

/// The signed-in user a request speaks for, and the sign-in it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: User,
    pub session: SessionId,
    /// The client address of the request (for the audit log).
    pub address: Option<String>,
}

/// Where a request came from (for throttling and the audit log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub address: Option<String>,
}

/// A registration as submitted.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: Email,
    pub name: PersonName,
    pub password: NewPassword,
    /// Only an administrator may choose; staff otherwise.
    pub role: Option<Role>,
}

/// What a registration did, as the caller may learn it.
#[derive(Debug, Clone)]
pub enum Registered {
    /// The account was created (the first account of the installation, or
    /// one made by an administrator): it is shown.
    Created(User),
    /// Open registration by an anonymous caller: the same answer whether an
    /// account was created or the address already had one, so registering
    /// does not reveal which addresses have accounts.
    Accepted,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("registration is closed: ask an administrator to create the account")]
    Closed,
    #[error("only administrators can create accounts or choose a role")]
    Forbidden,
    #[error("an account with this email address already exists")]
    EmailTaken,
    #[error(transparent)]
    Unknown(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The same answer for an unknown account and a wrong password.
    #[error("the email address or password is wrong")]
    InvalidCredentials,
    #[error("too many failed sign-ins; try again later")]
    Throttled { retry_after: Duration },
    #[error(transparent)]
    Unknown(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is not valid")]
    Invalid,
    /// A used token came back: the whole sign-in was ended.
    #[error("the refresh token was already used; the sign-in has been ended")]
    Reused,
    #[error(transparent)]
    Unknown(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    #[error("the current password is wrong")]
    WrongPassword,
    #[error(transparent)]
    Unknown(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// The ports the account service works with.
#[derive(Clone)]
pub struct AccountPorts {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub throttle: Arc<dyn LoginThrottle>,
    pub hasher: Arc<dyn PasswordHasher>,
    /// Waits out the sign-in backoff.
    pub pause: Arc<dyn Pause>,
    pub tokens: Arc<dyn AccessTokens>,
    pub calendars: Arc<dyn CalendarRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub clock: Arc<dyn Clock>,
}

/// Accounts and sign-ins.
#[derive(Clone)]
pub struct AccountService {
    ports: AccountPorts,
    settings: AccountSettings,
}

impl AccountService {
    pub fn new(ports: AccountPorts, settings: AccountSettings) -> Self {
        Self { ports, settings }
    }

    pub fn settings(&self) -> &AccountSettings {
        &self.settings
    }

    /// Creates an account. Anonymous: the first account of an installation
    /// becomes its administrator (and owns the calendars nobody owns yet) and
    /// is shown; after that only when registration is open, as staff, and
    /// the answer is [`Registered::Accepted`] whether the address was free or
    /// already had an account (that attempt is audited and creates nothing).
    /// An administrator may create accounts of either role at any time, and
    /// learns when an address is taken.
    pub async fn register(
        &self,
        by: Option<&Principal>,
        registration: Registration,
        origin: &Origin,
    ) -> Result<Registered, RegisterError> {
        let now = self.ports.clock.now();
        match by {
            Some(p) if !p.user.is_admin() => return Err(RegisterError::Forbidden),
            None if registration.role.is_some() => return Err(RegisterError::Forbidden),
            // Closed is known before any hashing: refusals cost no bcrypt time.
            None if !self.settings.allow_registration
                && self
                    .ports
                    .users
                    .any()
                    .await
                    .map_err(RegisterError::Unknown)? =>
            {
                return Err(RegisterError::Closed);
            }
            _ => {}
        }
        // Hashed before the address is looked at: a taken address costs the
        // same bcrypt time as a free one.
        let password = self
            .ports
            .hasher
            .hash(&registration.password)
            .await
            .map_err(RegisterError::Unknown)?;
        let new = |role| NewUser {
            id: UserId::new(),
            email: registration.email.clone(),
            name: registration.name.clone(),
            role,
            password: password.clone(),
            created_at: now,
        };
        let (created, registered) = match by {
            Some(_) => {
                let user = self
                    .ports
                    .users
                    .create(new(registration.role.unwrap_or(Role::Staff)), false)
                    .await
                    .map_err(register_error)?;
                (user.clone(), Registered::Created(user))
            }
            None => match self.ports.users.create(new(Role::Admin), true).await {
                Ok(admin) => {
                    let adopted = self
                        .ports
                        .calendars
                        .adopt_unowned(admin.id)
                        .await
                        .map_err(RegisterError::Unknown)?;
                    tracing::info!(user = %admin.id, adopted, "first administrator registered");
                    (admin.clone(), Registered::Created(admin))
                }
                Err(StoreUserError::NotFirst) if self.settings.allow_registration => {
                    match self.ports.users.create(new(Role::Staff), false).await {
                        Ok(user) => (user, Registered::Accepted),
                        Err(StoreUserError::EmailTaken) => {
                            self.audit(AuditEntry {
                                at: now,
                                actor: Actor::Anonymous,
                                action: "user.register",
                                resource: None,
                                outcome: "denied",
                                address: origin.address.clone(),
                                detail: Some(format!(
                                    "open registration for {}, which already has an account: \
                                     answered as accepted, nothing created",
                                    registration.email.masked()
                                )),
                            })
                            .await;
                            return Ok(Registered::Accepted);
                        }
                        Err(e) => return Err(register_error(e)),
                    }
                }
                Err(StoreUserError::NotFirst) => return Err(RegisterError::Closed),
                Err(e) => return Err(register_error(e)),
            },
        };
        self.audit(AuditEntry {
            at: now,
            actor: by.map_or(Actor::Anonymous, |p| Actor::User(p.user.id)),
            action: "user.create",
            resource: Some(format!("user:{}", created.id)),
            outcome: "success",
            address: origin.address.clone(),
            detail: Some(format!(
                "{} as {}",
                created.email.masked(),
                created.role.as_str()
            )),
        })
        .await;
        Ok(registered)
    }

    /// True while the installation has no account at all: the dashboard's
    /// first-run page may then create the first administrator.
    pub async fn awaiting_first_account(&self) -> anyhow::Result<bool> {
        Ok(!self.ports.users.any().await?)
    }

    /// Creates the installation's first administrator (it owns the calendars
    /// nobody owns yet) and signs it in — only while no account exists: the
    /// store decides atomically (`only_if_first`), so of two concurrent
    /// first runs exactly one creates an account and the other gets
    /// [`RegisterError::Closed`]. Unlike [`Self::register`], never creates a
    /// staff account, whether registration is open or not.
    pub async fn create_first_admin(
        &self,
        email: Email,
        name: PersonName,
        password: NewPassword,
        origin: &Origin,
    ) -> Result<TokenPair, RegisterError> {
        let now = self.ports.clock.now();
        if self
            .ports
            .users
            .any()
            .await
            .map_err(RegisterError::Unknown)?
        {
            return Err(RegisterError::Closed);
        }
        let hash = self
            .ports
            .hasher
            .hash(&password)
            .await
            .map_err(RegisterError::Unknown)?;
        let admin = self
            .ports
            .users
            .create(
                NewUser {
                    id: UserId::new(),
                    email,
                    name,
                    role: Role::Admin,
                    password: hash,
                    created_at: now,
                },
                true,
            )
            .await
            .map_err(register_error)?;
        let adopted = self
            .ports
            .calendars
            .adopt_unowned(admin.id)
            .await
            .map_err(RegisterError::Unknown)?;
        tracing::info!(user = %admin.id, adopted, "first administrator created on the first-run page");
        self.audit(AuditEntry {
            at: now,
            actor: Actor::Anonymous,
            action: "user.create",
            resource: Some(format!("user:{}", admin.id)),
            outcome: "success",
            address: origin.address.clone(),
            detail: Some(format!(
                "{} as admin (the first account, from the first-run page)",
                admin.email.masked()
            )),
        })
        .await;
        let pair = self
            .start_session(admin, now)
            .await
            .map_err(RegisterError::Unknown)?;
        self.audit(AuditEntry {
            at: now,
            actor: Actor::User(pair.user.id),
            action: "auth.login",
            resource: Some(format!("session:{}", pair.session)),
            outcome: "success",
            address: origin.address.clone(),
            detail: None,
        })
        .await;
        Ok(pair)
    }

    /// Creates an administrator whatever the installation's state (the
    /// `users create-admin` command).
    pub async fn create_admin(
        &self,
        email: Email,
        name: PersonName,
        password: NewPassword,
    ) -> Result<User, RegisterError> {
        let now = self.ports.clock.now();
        let hash = self
            .ports
            .hasher
            .hash(&password)
            .await
            .map_err(RegisterError::Unknown)?;
        let admin = self
            .ports
            .users
            .create(
                NewUser {
                    id: UserId::new(),
                    email,
                    name,
                    role: Role::Admin,
                    password: hash,
                    created_at: now,
                },
                false,
            )
            .await
            .map_err(register_error)?;
        self.ports
            .calendars
            .adopt_unowned(admin.id)
            .await
            .map_err(RegisterError::Unknown)?;
        self.audit(AuditEntry {
            at: now,
            actor: Actor::System,
            action: "user.create_admin",
            resource: Some(format!("user:{}", admin.id)),
            outcome: "success",
            address: None,
            detail: Some(admin.email.masked()),
        })
        .await;
        Ok(admin)
    }

    /// Signs in. Unknown accounts and wrong passwords get the same error after
    /// the same work. Failures are counted per account and client address
    /// together (a lock for that address only), per address (a lock for
    /// every account from it) and per account (a growing delay, never a
    /// lock): see [`ThrottlePolicy`].
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        origin: &Origin,
    ) -> Result<TokenPair, LoginError> {
        let now = self.ports.clock.now();
        let email = Email::parse(email).ok();
        let account = email
            .as_ref()
            .map(|e| format!("account:{}", account_key(e)));
        let address = origin.address.as_ref().map(|a| format!("address:{a}"));
        let pair = account.as_ref().map(|account| {
            format!(
                "{account}|address:{}",
                origin.address.as_deref().unwrap_or("unknown")
            )
        });
        let policy = self.settings.throttle;
        let since = now - policy.window;
        let mut retry_after = None;
        for (key, limit) in [(&pair, policy.per_account), (&address, policy.per_address)] {
            if let Some(key) = key {
                let (count, earliest) = self
                    .ports
                    .throttle
                    .failures_since(key, since)
                    .await
                    .map_err(LoginError::Unknown)?;
                if count >= limit {
                    let until = earliest.unwrap_or(now) + policy.window;
                    let wait = (until - now).max(Duration::seconds(1));
                    retry_after = Some(retry_after.map_or(wait, |w: Duration| w.max(wait)));
                }
            }
        }
        if let Some(retry_after) = retry_after {
            self.audit(failed_login(now, origin, email.as_ref(), "throttled"))
                .await;
            return Err(LoginError::Throttled { retry_after });
        }
        // The account-wide backoff: failures from every address slow the
        // account's sign-ins down, before the password is checked.
        if let Some(key) = &account {
            let (failures, _) = self
                .ports
                .throttle
                .failures_since(key, since)
                .await
                .map_err(LoginError::Unknown)?;
            let delay = policy.backoff(failures);
            if delay > Duration::zero() {
                self.ports.pause.pause(delay).await;
            }
        }
        let found = match &email {
            Some(e) => self
                .ports
                .users
                .find_credentials(e)
                .await
                .map_err(LoginError::Unknown)?,
            None => None,
        };
        let verified = self
            .ports
            .hasher
            .verify(password, found.as_ref().map(|(_, hash)| hash))
            .await
            .map_err(LoginError::Unknown)?;
        let user = match found {
            Some((user, _)) if verified => user,
            _ => {
                let keys: Vec<String> = [account, address, pair].into_iter().flatten().collect();
                if let Err(e) = self.ports.throttle.record_failure(&keys, now).await {
                    tracing::warn!(error = %e, "could not record a failed sign-in");
                }
                self.audit(failed_login(
                    now,
                    origin,
                    email.as_ref(),
                    "wrong credentials",
                ))
                .await;
                return Err(LoginError::InvalidCredentials);
            }
        };
        // The address that got in is no longer locked out of the account,
        // and the account's backoff starts over; other addresses' locks
        // stay.
        for key in [&pair, &account].into_iter().flatten() {
            if let Err(e) = self.ports.throttle.clear(key).await {
                tracing::warn!(error = %e, "could not clear failed sign-ins");
            }
        }
        let pair = self
            .start_session(user, now)
            .await
            .map_err(LoginError::Unknown)?;
        self.audit(AuditEntry {
            at: now,
            actor: Actor::User(pair.user.id),
            action: "auth.login",
            resource: Some(format!("session:{}", pair.session)),
            outcome: "success",
            address: origin.address.clone(),
            detail: None,
        })
        .await;
        Ok(pair)
    }

    /// Exchanges a refresh token for a new pair; the presented token stops
    /// working. A token that was already used ends its whole sign-in.
    pub async fn refresh(&self, token: &str, origin: &Origin) -> Result<TokenPair, RefreshError> {
        let now = self.ports.clock.now();
        let presented = RefreshToken::from_presented(token).ok_or(RefreshError::Invalid)?;
        let next = RefreshToken::generate();
        let session = match self
            .ports
            .sessions
            .rotate(&presented.digest(), &next.digest(), now)
            .await
        {
            Ok(session) => session,
            Err(RotateError::Reused(session)) => {
                tracing::warn!(user = %session.user, session = %session.id, "refresh token reused: sign-in ended");
                self.audit(AuditEntry {
                    at: now,
                    actor: Actor::User(session.user),
                    action: "auth.refresh_reused",
                    resource: Some(format!("session:{}", session.id)),
                    outcome: "denied",
                    address: origin.address.clone(),
                    detail: Some("a used refresh token was presented; every token of the sign-in was revoked".to_owned()),
                })
                .await;
                return Err(RefreshError::Reused);
            }
            Err(RotateError::Unknown | RotateError::Ended(_)) => return Err(RefreshError::Invalid),
            Err(RotateError::Failed(e)) => return Err(RefreshError::Unknown(e)),
        };
        let user = self
            .ports
            .users
            .get(session.user)
            .await
            .map_err(RefreshError::Unknown)?
            .ok_or(RefreshError::Invalid)?;
        let access_token = self
            .issue_access(&user, session.id, now)
            .map_err(RefreshError::Unknown)?;
        Ok(TokenPair {
            access_token,
            refresh_token: next,
            expires_in: self.settings.access_ttl,
            session: session.id,
            user,
        })
    }

    /// Ends the sign-in `token` belongs to. Unknown tokens are ignored (the
    /// answer is the same either way).
    pub async fn logout(&self, token: &str) -> Result<(), SessionError> {
        let Some(token) = RefreshToken::from_presented(token) else {
            return Ok(());
        };
        let now = self.ports.clock.now();
        if let Some(session) = self
            .ports
            .sessions
            .find_by_token(&token.digest())
            .await
            .map_err(SessionError::Unknown)?
        {
            self.ports
                .sessions
                .end(session.id, now)
                .await
                .map_err(SessionError::Unknown)?;
            self.audit(AuditEntry {
                at: now,
                actor: Actor::User(session.user),
                action: "auth.logout",
                resource: Some(format!("session:{}", session.id)),
                outcome: "success",
                address: None,
                detail: None,
            })
            .await;
        }
        Ok(())
    }

    /// Ends every sign-in of the principal's user, this one included.
    pub async fn logout_all(
        &self,
        principal: &Principal,
        origin: &Origin,
    ) -> Result<u64, SessionError> {
        let now = self.ports.clock.now();
        let ended = self
            .ports
            .sessions
            .end_all(principal.user.id, None, now)
            .await
            .map_err(SessionError::Unknown)?;
        self.audit(AuditEntry {
            at: now,
            actor: Actor::User(principal.user.id),
            action: "auth.logout_all",
            resource: Some(format!("user:{}", principal.user.id)),
            outcome: "success",
            address: origin.address.clone(),
            detail: Some(format!("{ended} sign-ins ended")),
        })
        .await;
        Ok(ended)
    }

    /// Changes the password after checking the current one and ends every
    /// sign-in of the user, the one that made the change included: every
    /// refresh token is revoked and every access token issued before the
    /// change is refused (access tokens name their sign-in, which has ended).
    /// The client that changed it is signed in again: the answer is a new
    /// pair on a new sign-in.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: NewPassword,
        origin: &Origin,
    ) -> Result<TokenPair, PasswordChangeError> {
        let now = self.ports.clock.now();
        let stored = self
            .ports
            .users
            .find_credentials(&principal.user.email)
            .await
            .map_err(PasswordChangeError::Unknown)?;
        let ok = self
            .ports
            .hasher
            .verify(current, stored.as_ref().map(|(_, h)| h))
            .await
            .map_err(PasswordChangeError::Unknown)?;
        if !ok {
            self.audit(AuditEntry {
                at: now,
                actor: Actor::User(principal.user.id),
                action: "auth.password_change",
                resource: Some(format!("user:{}", principal.user.id)),
                outcome: "failure",
                address: origin.address.clone(),
                detail: Some("wrong current password".to_owned()),
            })
            .await;
            return Err(PasswordChangeError::WrongPassword);
        }
        let hash = self
            .ports
            .hasher
            .hash(&new)
            .await
            .map_err(PasswordChangeError::Unknown)?;
        self.ports
            .users
            .set_password(principal.user.id, hash, now)
            .await
            .map_err(PasswordChangeError::Unknown)?;
        let ended = self
            .ports
            .sessions
            .end_all(principal.user.id, None, now)
            .await
            .map_err(PasswordChangeError::Unknown)?;
        let pair = self
            .start_session(principal.user.clone(), now)
            .await
            .map_err(PasswordChangeError::Unknown)?;
        self.audit(AuditEntry {
            at: now,
            actor: Actor::User(principal.user.id),
            action: "auth.password_change",
            resource: Some(format!("user:{}", principal.user.id)),
            outcome: "success",
            address: origin.address.clone(),
            detail: Some(format!(
                "{ended} sign-ins ended; this client signed in again as session:{}",
                pair.session
            )),
        })
        .await;
        Ok(pair)
    }

    /// The principal an access token speaks for: a valid token whose sign-in
    /// has not ended and whose user still exists (with the role they have now).
    pub async fn authenticate(
        &self,
        access_token: &str,
        origin: &Origin,
    ) -> Result<Principal, AuthError> {
        let now = self.ports.clock.now();
        let claims = self
            .ports
            .tokens
            .verify(access_token, now)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let session = self
            .ports
            .sessions
            .get(claims.session)
            .await
            .map_err(AuthError::Unknown)?;
        match session {
            Some(s) if s.user == claims.user && s.ended_at.is_none() && s.expires_at > now => {}
            _ => return Err(AuthError::Invalid("the sign-in has ended".to_owned())),
        }
        let user = self
            .ports
            .users
            .get(claims.user)
            .await
            .map_err(AuthError::Unknown)?
            .ok_or_else(|| AuthError::Invalid("the account no longer exists".to_owned()))?;
        Ok(Principal {
            user,
            session: claims.session,
            address: origin.address.clone(),
        })
    }

    /// The principal a server-side sign-in speaks for, found by its id (the
    /// web dashboard keeps the id in a signed cookie instead of handing out
    /// tokens): the sign-in must not have ended or expired and its user must
    /// still exist. Signing out, "sign out everywhere", a password change
    /// and deleting the account all end it, exactly as for API sign-ins.
    pub async fn authenticate_session(
        &self,
        session: SessionId,
        origin: &Origin,
    ) -> Result<Principal, AuthError> {
        let now = self.ports.clock.now();
        let found = self
            .ports
            .sessions
            .get(session)
            .await
            .map_err(AuthError::Unknown)?;
        let user_id = match found {
            Some(s) if s.ended_at.is_none() && s.expires_at > now => s.user,
            _ => return Err(AuthError::Invalid("the sign-in has ended".to_owned())),
        };
        let user = self
            .ports
            .users
            .get(user_id)
            .await
            .map_err(AuthError::Unknown)?
            .ok_or_else(|| AuthError::Invalid("the account no longer exists".to_owned()))?;
        Ok(Principal {
            user,
            session,
            address: origin.address.clone(),
        })
    }

    /// Ends the principal's own sign-in (signing out of the dashboard).
    pub async fn end_session(&self, principal: &Principal) -> Result<(), SessionError> {
        let now = self.ports.clock.now();
        self.ports
            .sessions
            .end(principal.session, now)
            .await
            .map_err(SessionError::Unknown)?;
        self.audit(AuditEntry {
            at: now,
            actor: Actor::User(principal.user.id),
            action: "auth.logout",
            resource: Some(format!("session:{}", principal.session)),
            outcome: "success",
            address: principal.address.clone(),
            detail: None,
        })
        .await;
        Ok(())
    }

    /// Every account (administrators only; the caller checks the role).
    pub async fn users(&self) -> Result<Vec<User>, SessionError> {
        self.ports.users.list().await.map_err(SessionError::Unknown)
    }

    async fn start_session(&self, user: User, now: DateTime<Utc>) -> anyhow::Result<TokenPair> {
        let session = Session {
            id: SessionId::new(),
            user: user.id,
            created_at: now,
            expires_at: now + self.settings.session_ttl,
            ended_at: None,
        };
        let refresh_token = RefreshToken::generate();
        self.ports
            .sessions
            .start(&session, &refresh_token.digest())
            .await?;
        let access_token = self.issue_access(&user, session.id, now)?;
        Ok(TokenPair {
            access_token,
            refresh_token,
            expires_in: self.settings.access_ttl,
            session: session.id,
            user,
        })
    }

    fn issue_access(
        &self,
        user: &User,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        self.ports.tokens.issue(&AccessClaims {
            user: user.id,
            session,
            issued_at: now,
            expires_at: now + self.settings.access_ttl,
        })
    }

    /// Audit failures are logged, never turned into a failed request.
    async fn audit(&self, entry: AuditEntry) {
        let action = entry.action;
        if let Err(e) = self.ports.audit.record(entry).await {
            tracing::error!(action, error = %e, "could not write an audit entry");
        }
    }
}

fn register_error(e: StoreUserError) -> RegisterError {
    match e {
        StoreUserError::EmailTaken => RegisterError::EmailTaken,
        StoreUserError::NotFirst => RegisterError::Closed,
        StoreUserError::Unknown(e) => RegisterError::Unknown(e),
    }
}

fn failed_login(
    at: DateTime<Utc>,
    origin: &Origin,
    email: Option<&Email>,
    why: &str,
) -> AuditEntry {
    AuditEntry {
        at,
        actor: Actor::Anonymous,
        action: "auth.login",
        resource: None,
        outcome: "failure",
        address: origin.address.clone(),
        detail: Some(format!(
            "{why} for {}",
            email.map_or_else(|| "an invalid address".to_owned(), Email::masked)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_250_ms_up_to_2_s_and_never_locks() {
        let policy = ThrottlePolicy::default();
        let ms = |n| policy.backoff(n).num_milliseconds();
        assert_eq!(ms(0), 0);
        assert_eq!(ms(1), 250);
        assert_eq!(ms(2), 500);
        assert_eq!(ms(3), 1000);
        assert_eq!(ms(4), 2000);
        assert_eq!(ms(5), 2000);
        assert_eq!(ms(1000), 2000);
        assert_eq!(ms(u32::MAX), 2000);
    }
}

//! `oauth_states.code_verifier`: the PKCE (RFC 7636, `S256`) code verifier
//! of a Google connection in progress. The consent address carries only its
//! SHA-256 (`code_challenge`); the callback sends the verifier with the code
//! exchange, so a code taken from one consent cannot be exchanged through
//! another connection's state. `NULL` for a state started before PKCE (its
//! consent address had no challenge).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OauthStates::Table)
                    .add_column(ColumnDef::new(OauthStates::CodeVerifier).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OauthStates::Table)
                    .drop_column(OauthStates::CodeVerifier)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum OauthStates {
    Table,
    CodeVerifier,
}

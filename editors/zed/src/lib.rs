//! Registers codetune-lsp with Zed: the binary from `lsp.codetune.binary` or PATH, and
//! `lsp.codetune.initialization_options` / `settings` passed through.
use zed_extension_api::{self as zed, serde_json, settings::LspSettings};

struct Codetune;

impl zed::Extension for Codetune {
    fn new() -> Self {
        Codetune
    }

    fn language_server_command(
        &mut self,
        id: &zed::LanguageServerId,
        worktree: &zed::Worktree,
    ) -> zed::Result<zed::Command> {
        let binary = LspSettings::for_worktree(id.as_ref(), worktree)
            .ok()
            .and_then(|settings| settings.binary);
        let configured = binary.as_ref().and_then(|b| b.path.clone());
        let command = match configured {
            Some(path) => path,
            None => worktree
                .which("codetune-lsp")
                .ok_or("codetune-lsp is not on PATH; set lsp.codetune.binary.path")?,
        };
        let args = binary.and_then(|b| b.arguments).unwrap_or_default();
        Ok(zed::Command { command, args, env: Default::default() })
    }

    fn language_server_initialization_options(
        &mut self,
        id: &zed::LanguageServerId,
        worktree: &zed::Worktree,
    ) -> zed::Result<Option<serde_json::Value>> {
        Ok(LspSettings::for_worktree(id.as_ref(), worktree)
            .ok()
            .and_then(|settings| settings.initialization_options))
    }

    fn language_server_workspace_configuration(
        &mut self,
        id: &zed::LanguageServerId,
        worktree: &zed::Worktree,
    ) -> zed::Result<Option<serde_json::Value>> {
        let settings = LspSettings::for_worktree(id.as_ref(), worktree)
            .ok()
            .and_then(|settings| settings.settings)
            .unwrap_or_else(|| serde_json::json!({}));
        Ok(Some(serde_json::json!({ "codetune": settings })))
    }
}

zed::register_extension!(Codetune);

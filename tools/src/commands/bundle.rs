//! `ostrom export` and `ostrom import`: through the running node, or on the home's store
//! directly when none runs (an import is then announced when the node next starts).

use anyhow::{Context, Result};
use ostrom_node::api::bundle::{ExportBody, ExportReport, ImportBody, ImportReport};
use ostrom_node::bundle;
use ostrom_node::store::Store;
use ostrom_node::Home;

use crate::cli::{ExportArgs, ImportArgs};
use crate::client::ApiClient;
use crate::format;

fn absolute(path: &std::path::Path) -> Result<String> {
    Ok(std::path::absolute(path)
        .with_context(|| format!("cannot resolve {}", path.display()))?
        .display()
        .to_string())
}

pub async fn export(home: &Home, args: ExportArgs) -> Result<()> {
    let body = ExportBody {
        ids: args.ids,
        out: absolute(&args.out)?,
        exclude_held_by: args.exclude_held_by,
    };
    let request = body.request().map_err(anyhow::Error::msg)?;
    let report: ExportReport = match ApiClient::connect(home).await {
        Some(client) => client.post("/v1/export", &body).await?,
        None => {
            let store = Store::open(&home.store_dir())?;
            let aliases = bundle::trust_aliases(home)?;
            let outcome =
                tokio::task::spawn_blocking(move || bundle::export(&store, &request, &aliases))
                    .await??;
            ExportReport::from(&outcome)
        }
    };
    if args.json {
        return super::print_json(&report);
    }
    println!(
        "exported {} checkpoint(s) into {} ({}): {} chunks ({}), {} records in {:.2}s",
        report.checkpoints.len(),
        report.path,
        format::bytes(report.bytes),
        report.chunks,
        format::bytes(report.chunk_bytes),
        report.records,
        report.seconds,
    );
    if report.chunks_excluded > 0 {
        println!(
            "left out {} chunks of the excluded checkpoint(s): the importing node must hold them",
            report.chunks_excluded
        );
    }
    Ok(())
}

pub async fn import(home: &Home, args: ImportArgs) -> Result<()> {
    let out = match &args.out {
        Some(out) => absolute(out)?,
        None => home.root().join("imports").display().to_string(),
    };
    let body = ImportBody {
        bundle: absolute(&args.file)?,
        out,
        allow_untrusted: args.allow_untrusted,
        allow_retracted: args.allow_retracted,
        force: args.force,
    };
    let report: ImportReport = match ApiClient::connect(home).await {
        Some(client) => client.post("/v1/import", &body).await?,
        None => {
            let store = Store::open(&home.store_dir())?;
            let request = (&body).into();
            let task_home = home.clone();
            let outcome =
                tokio::task::spawn_blocking(move || bundle::import(&store, &task_home, &request))
                    .await??;
            eprintln!(
                "note: no node is running on {}; the checkpoints are stored there and will be announced when `ostrom node run` starts",
                home.root().display()
            );
            ImportReport::new(&outcome, false)
        }
    };
    if args.json {
        return super::print_json(&report);
    }
    for checkpoint in &report.checkpoints {
        println!(
            "imported {}{} ({}, {} files) into {}",
            checkpoint.name,
            checkpoint
                .tag
                .as_deref()
                .map(|t| format!("@{t}"))
                .unwrap_or_default(),
            format::bytes(checkpoint.bytes),
            checkpoint.files.len(),
            checkpoint.root
        );
        if let Some(reason) = &checkpoint.retracted {
            println!("  warning: retracted by its publisher: {reason}");
        }
        println!("  {}", checkpoint.id);
    }
    println!(
        "{} from the bundle, {} from this node's store, {} records kept, in {:.2}s; every signature and every file verified",
        format::bytes(report.bytes_from_bundle),
        format::bytes(report.bytes_from_store),
        report.records,
        report.seconds
    );
    Ok(())
}

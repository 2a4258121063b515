//! Unattended jobs on the command line: where one comes from (`wraith.job=` a file or URL,
//! `wraith.run=` the job itself), how its fields read (the one tokenizer shared with the
//! engine, [`wraith_live::inline`]) and the argv that hands it to `wraith job`.

/// Where an unattended job comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSource {
    /// `wraith.job=`: an absolute path (boot medium or USB stick) or an http(s) URL, passed
    /// through as given; the `wraith job` subcommand fetches it.
    File(String),
    /// `wraith.run=`: the job text itself (see [`inline_job_fields`]).
    Inline(String),
}

/// The fields of an inline job as `wraith job` will read them.
pub fn inline_job_fields(text: &str) -> Result<Vec<(String, String)>, InlineError> {
    wraith_live::inline::fields(text)
}

pub use wraith_live::inline::InlineError;

pub(super) fn is_http_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// The argv of the UI: no arguments for the interactive UI, `job --file|--inline` for a job.
pub fn ui_argv(ui_path: &str, job: Option<&JobSource>) -> Vec<String> {
    let mut argv = vec![ui_path.to_string()];
    match job {
        None => {}
        Some(JobSource::File(f)) => argv.extend(["job".into(), "--file".into(), f.clone()]),
        Some(JobSource::Inline(t)) => argv.extend(["job".into(), "--inline".into(), t.clone()]),
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_argv_passes_the_job_through() {
        assert_eq!(ui_argv("/usr/bin/wraith", None), vec!["/usr/bin/wraith"]);
        assert_eq!(
            ui_argv("/usr/bin/wraith", Some(&JobSource::File("/j.toml".into()))),
            vec!["/usr/bin/wraith", "job", "--file", "/j.toml"]
        );
        assert_eq!(
            ui_argv(
                "/usr/bin/wraith",
                Some(&JobSource::Inline("a=b c=d".into()))
            ),
            vec!["/usr/bin/wraith", "job", "--inline", "a=b c=d"]
        );
    }

    #[test]
    fn inline_fields_are_the_engines_fields() {
        assert_eq!(
            inline_job_fields("action=clone;source=serial:ABC  repo=/mnt/my%20images"),
            Ok(vec![
                ("action".to_string(), "clone".to_string()),
                ("source".to_string(), "serial:ABC".to_string()),
                ("repo".to_string(), "/mnt/my images".to_string()),
            ])
        );
        assert!(inline_job_fields("action=clone flag").is_err());
    }
}

//! `cometr-server`: the Comet-compatible local server without R.
//!
//! `cometr-server --port 8080 --dir runs [--host 127.0.0.1] [--api-key KEY]`
//! serves until interrupted (Ctrl-C or SIGTERM).

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str =
    "usage: cometr-server [--port N] [--dir FOLDER] [--host ADDRESS] [--api-key KEY]
  --port     port to listen on (default 8080; 0 picks a free one)
  --dir      folder that holds the server's data (default ./cometr-server)
  --host     address to bind (default 127.0.0.1; another needs --api-key)
  --api-key  key every client must send (default: COMET_API_KEY, else none)";

struct Options {
    port: u16,
    dir: PathBuf,
    host: String,
    api_key: Option<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        port: 8080,
        dir: PathBuf::from("cometr-server"),
        host: "127.0.0.1".into(),
        api_key: std::env::var("COMET_API_KEY")
            .ok()
            .filter(|k| !k.is_empty()),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--port" => {
                let v = value()?;
                o.port = v
                    .parse()
                    .map_err(|_| format!("--port must be a number from 0 to 65535, not {v:?}"))?;
            }
            "--dir" => o.dir = PathBuf::from(value()?),
            "--host" => o.host = value()?,
            "--api-key" => o.api_key = Some(value()?).filter(|k| !k.is_empty()),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("cometr-server: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match cometr_server::start(o.dir.clone(), &o.host, o.port, o.api_key) {
        Ok((id, port)) => {
            println!(
                "cometr-server: serving http://{}:{port}/ from {}",
                o.host,
                o.dir.display()
            );
            cometr_server::wait_for_shutdown_signal();
            cometr_server::stop(id);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cometr-server: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_port_and_dir() {
        let o = parse(&args(&["--port", "9000", "--dir", "runs"])).unwrap();
        assert_eq!(o.port, 9000);
        assert_eq!(o.dir, PathBuf::from("runs"));
        assert_eq!(o.host, "127.0.0.1");
    }

    #[test]
    fn refuses_bad_input() {
        assert!(parse(&args(&["--port", "x"])).is_err());
        assert!(parse(&args(&["--port"])).is_err());
        assert!(parse(&args(&["--bogus"])).is_err());
    }
}

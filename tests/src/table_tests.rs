//! A test harness for tests generated from a table (`harness = false` targets): one named test
//! per row, run on threads named after it (so `skip::current_test` and panic messages name the
//! row), reported in libtest's words so `scripts/run-tests.sh` counts them like any other test.
//!
//! It honours what `./dev test` passes: name filters (`--exact`, `--skip`), `--test-threads`,
//! and `--list`. There is no opt-in (`#[ignore]`) row, so `--ignored` runs none.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::Mutex;
use std::thread;
use std::time::Instant;

/// One generated test: its name and its body (which panics to fail).
pub type Row = (String, Box<dyn FnOnce() + Send>);

/// Runs the rows the command line selects and reports them as libtest does.
pub fn run(rows: Vec<Row>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let (mut exact, mut list, mut ignored_only) = (false, false, false);
    let mut threads = std::env::var("RUST_TEST_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()));
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--exact" => exact = true,
            "--list" => list = true,
            "--ignored" => ignored_only = true,
            "--skip" => skips.extend(it.next().cloned()),
            // Options of libtest's that take a value and change nothing here.
            "--format" | "--color" | "--logfile" | "-Z" => {
                it.next();
            }
            "--test-threads" => threads = it.next().and_then(|n| n.parse().ok()).unwrap_or(threads),
            a if a.starts_with("--test-threads=") => threads = a[15..].parse().unwrap_or(threads),
            a if a.starts_with('-') => {}
            a => filters.push(a.to_string()),
        }
    }
    let matches = |name: &str, f: &String| if exact { name == f } else { name.contains(f.as_str()) };
    let total = rows.len();
    let selected: VecDeque<Row> = rows
        .into_iter()
        .filter(|(name, _)| !ignored_only && (filters.is_empty() || filters.iter().any(|f| matches(name, f))))
        .filter(|(name, _)| !skips.iter().any(|f| matches(name, f)))
        .collect();
    if list {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let filtered_out = total - selected.len();
    println!("\nrunning {} tests", selected.len());
    let started = Instant::now();
    let queue = Mutex::new(selected);
    let failed = Mutex::new(Vec::new());
    let passed = Mutex::new(0);
    thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let Some((name, body)) = queue.lock().unwrap().pop_front() else {
                    break;
                };
                let outcome = thread::Builder::new()
                    .name(name.clone())
                    .spawn(body)
                    .expect("spawn a test")
                    .join();
                let verdict = if outcome.is_ok() { "ok" } else { "FAILED" };
                println!("test {name} ... {verdict}");
                match outcome {
                    Ok(()) => *passed.lock().unwrap() += 1,
                    Err(_) => failed.lock().unwrap().push(name),
                }
            });
        }
    });
    let (passed, mut failed) = (passed.into_inner().unwrap(), failed.into_inner().unwrap());
    failed.sort();
    if !failed.is_empty() {
        println!("\nfailures:");
        for name in &failed {
            println!("    {name}");
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed; 0 ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}

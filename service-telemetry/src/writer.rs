//! The log writer: a request formats its line and queues it, with neither a lock nor a system
//! call; one thread writes what is queued every [`FLUSH_INTERVAL`] (and at shutdown), in one
//! write per batch. A full queue drops the line and counts it rather than making a worker wait.
//!
//! Why not tracing-appender's non-blocking writer: its thread sleeps in a blocking receive, so a
//! line queued while it sleeps costs the request a futex wake-up (bench/syscalls.sh measured 0.22
//! extra system calls per validation). Here nothing ever waits on the queue: the thread polls it
//! on a timer, and a send never has a sleeper to wake.
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a line waits at most before it is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// The queue's side that tracing's formatter writes each line to.
pub struct LineQueue {
    lines: SyncSender<Vec<u8>>,
    dropped: AtomicU64,
}

impl LineQueue {
    /// Queues one whole line (written at the next flush), or counts it dropped.
    pub fn push(&self, line: Vec<u8>) {
        if self.lines.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// What the subscriber holds: each event's formatted line goes through `make_writer`.
#[derive(Clone)]
pub struct QueuedWriter(Arc<LineQueue>);

impl QueuedWriter {
    pub fn queue(&self) -> &Arc<LineQueue> {
        &self.0
    }
}

impl<'a> MakeWriter<'a> for QueuedWriter {
    type Writer = &'a LineQueue;

    fn make_writer(&'a self) -> Self::Writer {
        &self.0
    }
}

/// tracing's formatter writes a whole line in one call.
impl Write for &LineQueue {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.push(line.to_vec());
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The writing thread; dropping this writes every line still queued, then stops it.
pub struct WriterThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// A queue of at most `capacity` lines, written to `out` through a buffer of `buffer_bytes`.
pub fn spawn<W: Write + Send + 'static>(
    out: W,
    capacity: usize,
    buffer_bytes: usize,
) -> std::io::Result<(QueuedWriter, WriterThread)> {
    let (lines, queued) = mpsc::sync_channel(capacity);
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let out = BufWriter::with_capacity(buffer_bytes, out);
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_until_stopped(queued, out, &stopping))?;
    let queue = Arc::new(LineQueue {
        lines,
        dropped: AtomicU64::new(0),
    });
    Ok((
        QueuedWriter(queue),
        WriterThread {
            stop,
            thread: Some(thread),
        },
    ))
}

fn write_until_stopped<W: Write>(queued: Receiver<Vec<u8>>, mut out: W, stop: &AtomicBool) {
    loop {
        // Read the flag first: a stop seen here still drains what was queued before it.
        let stopping = stop.load(Ordering::Acquire);
        while let Ok(line) = queued.try_recv() {
            // Nowhere to report a failing stderr: the line is lost, the next ones are tried.
            let _ = out.write_all(&line);
        }
        let _ = out.flush();
        if stopping {
            return;
        }
        std::thread::park_timeout(FLUSH_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A `Write` whose bytes the test reads back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_queued_line_is_written_in_order_by_the_time_the_thread_stops() {
        let sink = Sink::default();
        let (writer, thread) = spawn(sink.clone(), 10_000, 4096).expect("spawned");
        for i in 0..5000 {
            writer
                .make_writer()
                .write_all(format!("line {i}\n").as_bytes())
                .expect("queued");
        }
        drop(thread);
        let written = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("text");
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 5000);
        assert!(lines
            .iter()
            .enumerate()
            .all(|(i, l)| *l == format!("line {i}")));
        assert_eq!(writer.queue().dropped(), 0);
    }

    #[test]
    fn a_line_waits_at_most_about_one_interval() {
        let sink = Sink::default();
        let (writer, _thread) = spawn(sink.clone(), 16, 4096).expect("spawned");
        writer.make_writer().write_all(b"soon\n").expect("queued");
        let deadline = std::time::Instant::now() + FLUSH_INTERVAL * 20;
        while sink.0.lock().expect("sink").is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(&*sink.0.lock().expect("sink"), b"soon\n");
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        // A writer held shut until the test opens it: the thread holds the first line there
        // while the queue fills up.
        struct Held {
            gate: Arc<Mutex<()>>,
            entered: Arc<AtomicBool>,
            sink: Sink,
        }
        impl Write for Held {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.entered.store(true, Ordering::Release);
                let _open = self.gate.lock().expect("gate");
                self.sink.write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new(Mutex::new(()));
        let entered = Arc::new(AtomicBool::new(false));
        let sink = Sink::default();
        let shut = gate.lock().expect("gate");
        let held = Held {
            gate: gate.clone(),
            entered: entered.clone(),
            sink: sink.clone(),
        };
        // No buffer: the first line reaches the held writer at once.
        let (writer, thread) = spawn(held, 4, 0).expect("spawned");
        writer.make_writer().write_all(b"first\n").expect("queued");
        while !entered.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        for _ in 0..10 {
            writer
                .make_writer()
                .write_all(b"more\n")
                .expect("never an error");
        }
        assert_eq!(writer.queue().dropped(), 6, "4 queued, 6 dropped");
        drop(shut);
        drop(thread);
        let written = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("text");
        assert_eq!(written.lines().count(), 5, "{written}");
    }
}

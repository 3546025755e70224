//! The encode thread as both recorders hold it: started with its [`Worker`], fed through the
//! frame queue (and, for live capture, the control channel), heard from through one event
//! channel, and joined exactly once, at `finish`, after its first error or when dropped, so the
//! file is finalized whatever the caller does.

use std::thread::JoinHandle;

use crossbeam_channel::{unbounded, Receiver, Sender, TrySendError};

use super::messages::{Control, Event, FrameJob, Opened};
use super::replay::ReplaySaved;
use super::worker::Worker;
use super::RecordingStats;
use crate::error::{Error, Result};
use crate::pool::Pool;

pub(super) struct EncodeThread {
    frames: Option<Sender<FrameJob>>,
    control: Option<Sender<Control>>,
    events: Receiver<Event>,
    handle: Option<JoinHandle<()>>,
    warnings: Vec<String>,
    replays: Vec<ReplaySaved>,
    opened: Option<Opened>,
    /// How the thread ended, once its last event has come.
    ended: Option<(Result<()>, RecordingStats)>,
    /// The error the recording failed with: every later call reports it again.
    failed: Option<Error>,
}

impl EncodeThread {
    /// Starts the thread `name`: it builds its worker with `worker` (handing it the event
    /// channel) and runs it until the frame queue and the control channel are closed. A worker
    /// that cannot be built ends the thread with that error, as a failed recording.
    pub fn start(
        name: &str,
        (frames, frame_queue): (Sender<FrameJob>, Receiver<FrameJob>),
        control: Option<(Sender<Control>, Receiver<Control>)>,
        pools: (Pool<u8>, Pool<i32>),
        worker: impl FnOnce(Sender<Event>) -> Result<Worker> + Send + 'static,
    ) -> Result<Self> {
        let (events_in, events) = unbounded();
        let (control, control_queue) = control.unzip();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let ended = match worker(events_in.clone()) {
                    Ok(mut w) => {
                        let result = w.run(frame_queue, control_queue, pools);
                        Event::Ended(result, w.stats.clone())
                    }
                    Err(e) => Event::Ended(Err(e), RecordingStats::default()),
                };
                let _ = events_in.send(ended);
            })
            .map_err(|e| Error::Thread(e.to_string()))?;
        Ok(Self {
            frames: Some(frames),
            control,
            events,
            handle: Some(handle),
            warnings: Vec::new(),
            replays: Vec::new(),
            opened: None,
            ended: None,
            failed: None,
        })
    }

    /// The frame queue. Panics after `finish`, which consumes the recorder that calls it.
    pub fn frames(&self) -> &Sender<FrameJob> {
        self.frames.as_ref().expect("the frame queue is open until finish")
    }

    /// Queues a control message (live capture) without waiting: `Ok(false)` when the queue is
    /// full (the thread is that far behind), the thread's error if it has stopped.
    pub fn try_send_control(&mut self, msg: Control) -> Result<bool> {
        self.check()?;
        let control = self.control.as_ref().expect("live capture has a control channel");
        match control.try_send(msg) {
            Ok(()) => Ok(true),
            Err(TrySendError::Full(_)) => Ok(false),
            Err(TrySendError::Disconnected(_)) => Err(self.stopped()),
        }
    }

    /// The error the recording already failed with, if it did.
    pub fn check(&self) -> Result<()> {
        self.failed.clone().map_or(Ok(()), Err)
    }

    /// The thread ended before `finish` (a queue was found closed): joins it and returns, and
    /// keeps for later calls, the error it ended with.
    pub fn stopped(&mut self) -> Error {
        let e = match self.join() {
            Err(e) => e,
            Ok(_) => Error::Thread("the encode thread exited".into()),
        };
        self.failed = Some(e.clone());
        e
    }

    /// Closes the queues, waits for the thread to encode what is queued and finalize the file,
    /// and returns its figures.
    pub fn finish(&mut self) -> Result<RecordingStats> {
        self.check()?;
        self.join()
    }

    /// Warnings since the last call (each situation is reported once per recording).
    pub fn take_warnings(&mut self) -> Vec<String> {
        self.receive();
        std::mem::take(&mut self.warnings)
    }

    /// Replays written since the last call.
    pub fn take_replays(&mut self) -> Vec<ReplaySaved> {
        self.receive();
        std::mem::take(&mut self.replays)
    }

    /// The encoder, once the thread has said it opened it (see [`Event::Opened`]).
    pub fn opened(&mut self) -> Option<&Opened> {
        self.receive();
        self.opened.as_ref()
    }

    /// Waits until the thread has opened its encoder, or has ended without (its error, kept
    /// for every later call).
    pub fn wait_opened(&mut self) -> Result<Opened> {
        self.check()?;
        loop {
            self.receive();
            if let Some(opened) = &self.opened {
                return Ok(opened.clone());
            }
            if self.ended.is_some() {
                return Err(self.stopped());
            }
            match self.events.recv() {
                Ok(event) => self.sort(event),
                Err(_) => return Err(self.stopped()),
            }
        }
    }

    /// Sorts the events that have come, up to the last one.
    fn receive(&mut self) {
        while self.ended.is_none() {
            match self.events.try_recv() {
                Ok(event) => self.sort(event),
                Err(_) => return,
            }
        }
    }

    fn sort(&mut self, event: Event) {
        match event {
            Event::Opened(o) => self.opened = Some(o),
            Event::Warning(w) => self.warnings.push(w),
            Event::ReplaySaved(r) => self.replays.push(r),
            Event::Ended(result, stats) => self.ended = Some((result, stats)),
        }
    }

    fn join(&mut self) -> Result<RecordingStats> {
        self.frames = None;
        self.control = None;
        let Some(handle) = self.handle.take() else {
            return Err(Error::Thread("the recording was already finished".into()));
        };
        let joined = handle.join();
        // Everything the thread sent is in the channel now, its last event included.
        self.receive();
        match (joined, self.ended.take()) {
            (Err(panic), _) => Err(Error::Thread(panic_message(&panic))),
            (Ok(()), Some((result, stats))) => result.map(|()| stats),
            (Ok(()), None) => Err(Error::Thread("the encode thread ended without its figures".into())),
        }
    }
}

impl Drop for EncodeThread {
    /// A recorder dropped without `finish` (engine shutting down, error paths) still finalizes
    /// its file, so what was recorded stays playable.
    fn drop(&mut self) {
        if self.handle.is_some() {
            let _ = self.join();
        }
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

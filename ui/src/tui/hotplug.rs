//! Disks coming and going: a thread that listens to udev's "block" events and sends the new
//! disk list into the UI loop as `Msg::Disks`. Where no monitor can be opened (a container
//! without netlink uevents, no udev), it falls back to re-listing every two seconds.

use super::app::Msg;
use std::os::fd::AsFd;
use std::sync::mpsc::Sender;
use std::time::Duration;

/// After the first event of a burst (a stick brings a disk and its partitions, each
/// with add and change events), wait this long for the rest before listing once.
const SETTLE: Duration = Duration::from_millis(300);
const POLL: Duration = Duration::from_secs(2);

/// Starts the watcher thread (the monitor is opened there: udev handles are not `Send`).
pub fn spawn(tx: Sender<Msg>) {
    std::thread::spawn(move || {
        match udev::MonitorBuilder::new()
            .and_then(|b| b.match_subsystem("block"))
            .and_then(|b| b.listen())
        {
            Ok(socket) => watch(socket, tx),
            Err(_) => poll_loop(tx),
        }
    });
}

/// Sends the disk list and the boot media: Some(false) when the listing failed (transient:
/// udev busy) and must be tried again, None when the UI has closed.
fn send_list(tx: &Sender<Msg>) -> Option<bool> {
    match wraith_engine::disks::list() {
        Ok(d) => {
            // Read here, off the UI thread: it opens every disk.
            let boot = wraith_engine::live::wraith_media()
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            tx.send(Msg::Disks(d)).ok()?;
            tx.send(Msg::BootMedia(boot)).ok()?;
            Some(true)
        }
        Err(_) => Some(false),
    }
}

fn watch(socket: udev::MonitorSocket, tx: Sender<Msg>) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    // The UI listed the disks before this monitor existed: a disk that came in between (a
    // stick whose USB driver is a module loads seconds into the boot) sent its events to no
    // one, so list once now that nothing more can be missed.
    let Some(mut listed) = send_list(&tx) else {
        return;
    };
    loop {
        let ready = {
            let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
            // A timeout so a closed UI (send fails) is noticed even without events.
            poll(&mut fds, PollTimeout::from(5000u16))
        };
        match ready {
            Ok(0) => {
                if tx.send(Msg::Tick).is_err() {
                    return;
                }
                // A listing that failed is retried on the quiet poll, not left to the next
                // event, which may never come.
                if !listed {
                    let Some(l) = send_list(&tx) else { return };
                    listed = l;
                }
                continue;
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            // The socket broke: keep the home screen live the slow way.
            Err(_) => return poll_loop(tx),
        }
        std::thread::sleep(SETTLE);
        // Drain the burst; what changed does not matter, the whole list is re-read.
        if socket.iter().count() > 0 || !listed {
            let Some(l) = send_list(&tx) else { return };
            listed = l;
        }
    }
}

fn poll_loop(tx: Sender<Msg>) {
    loop {
        std::thread::sleep(POLL);
        if send_list(&tx).is_none() {
            return;
        }
    }
}

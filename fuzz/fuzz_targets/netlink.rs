//! wraith-init's netlink answer reader: walks the messages of a datagram from the kernel to
//! find the NLMSG_ERROR (ACK or errno) for a request. Input: u32 sequence number (LE), then
//! the datagram.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_init::net::netlink::find_ack;

fuzz_target!(|data: &[u8]| {
    let Some((seq, datagram)) = data.split_first_chunk::<4>() else {
        return;
    };
    let _ = find_ack(datagram, u32::from_le_bytes(*seq));
});

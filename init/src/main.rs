//! `/init` of the Wraith live system. Everything is in the library (src/lib.rs, which says
//! what init is responsible for); this only chooses PID 1's boot or, for any other PID, the
//! tool mode.

fn main() {
    // As PID 1 the kernel passes unknown command-line words as arguments; they mean nothing
    // here, so the PID alone decides.
    if nix::unistd::getpid().as_raw() != 1 {
        std::process::exit(wraith_init::tool::run(std::env::args().skip(1).collect()));
    }
    wraith_init::boot::boot()
}

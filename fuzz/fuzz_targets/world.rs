//! The whole consumer in the deterministic simulation (`kafkit::fuzzing::simulate`): the input
//! chooses the case (brokers, topics, members, protocol, commit style, application, faults) and
//! then every decision of the world (latencies, which fault strikes when and where, broker error
//! answers, which connection breaks or goes silent). A broken promise of the history checker
//! (nothing lost, never two owners, commits never ahead of delivery or backwards), a busy loop, a
//! leaked buffer or a member that does not finish closing is a panic, so a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    kafkit::fuzzing::simulate(input);
});

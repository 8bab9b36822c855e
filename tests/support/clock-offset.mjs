// Preloaded (`node --import`) into a child process to give it a clock that is off by
// AETHER_TEST_CLOCK_OFFSET_SECS (may be negative). Only Date.now moves: it is what the fs
// store's URL checks read.
const offsetMs = Number(process.env.AETHER_TEST_CLOCK_OFFSET_SECS ?? 0) * 1000;
const realNow = Date.now.bind(Date);
Date.now = () => realNow() + offsetMs;

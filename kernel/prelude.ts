// The llmlab prelude: the kernel runs this file before the first cell, and
// every cell is type-checked against what it declares (so `const x = ...` here
// becomes a typed global of every notebook).
//
// Choose another file with `llmlab kernel --prelude FILE` (or `llmlab install
// --prelude FILE`) or the LLMLAB_PRELUDE environment variable; set
// LLMLAB_PRELUDE="" or pass --no-prelude for none.
//
// Keep it quick: kernel_info is answered before the prelude runs, but the first
// cell waits for it. Load heavy things lazily, and call kernel.setBanner(...)
// to say what was loaded and on which device.

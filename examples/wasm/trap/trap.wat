;; trap: a WASI command whose _start executes `unreachable`, so that a
;; runtime can be tested on a guest that traps.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    unreachable))

;; tiny: the smallest WASI command: a _start that does nothing and one page
;; of memory (WASI expects an exported memory). It measures the fixed cost of
;; launching a task, without any guest runtime start-up.
(module
  (memory (export "memory") 1)
  (func (export "_start")))

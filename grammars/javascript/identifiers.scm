; Names used in code: @call on the callee's name, @type on classes named in types and
; heritage, @identifier otherwise.

(call_expression
  function: (identifier) @call)

(call_expression
  function: (member_expression
    property: [(property_identifier) (private_property_identifier)] @call))

; `await a.b<T>(…)` parses with the await inside the callee
(call_expression
  function: (await_expression
    [(identifier) @call
     (member_expression property: (property_identifier) @call)]))

(new_expression
  constructor: (identifier) @call)

(new_expression
  constructor: (member_expression
    property: (property_identifier) @call))

(class_heritage (identifier) @type)

(jsx_opening_element name: (identifier) @call)

(jsx_self_closing_element name: (identifier) @call)

(identifier) @identifier

(property_identifier) @identifier

(shorthand_property_identifier) @identifier

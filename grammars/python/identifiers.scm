; Names used in code: @call on the callee's name, @type on type names, @identifier otherwise.

(call
  function: (identifier) @call)

(call
  function: (attribute
    attribute: (identifier) @call))

(type (identifier) @type)

(type (generic_type (identifier) @type))

(class_definition
  superclasses: (argument_list (identifier) @type))

(attribute
  attribute: (identifier) @identifier)

(identifier) @identifier

; Scopes that enclose a position: @scope.<kind> on the node, @name on its name.

(class_declaration
  name: (identifier) @name) @scope.class

(function_declaration
  name: (identifier) @name) @scope.function

(generator_function_declaration
  name: (identifier) @name) @scope.function

(method_definition
  name: [(property_identifier) (private_property_identifier)] @name) @scope.method

(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function) (function_expression) (generator_function)])) @scope.function

(variable_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function) (function_expression) (generator_function)])) @scope.function

(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: (class))) @scope.class

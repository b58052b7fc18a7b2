; Scopes that enclose a position: @scope.<kind> on the node, @name on its name.

(class_definition
  name: (identifier) @name) @scope.class

(function_definition
  name: (identifier) @name) @scope.function

; Scopes that enclose a position: @scope.<kind> on the node, @name on its name.

(class_declaration
  name: (identifier) @name) @scope.class

(record_declaration
  name: (identifier) @name) @scope.class

(interface_declaration
  name: (identifier) @name) @scope.interface

(enum_declaration
  name: (identifier) @name) @scope.enum

(method_declaration
  name: (identifier) @name) @scope.method

(constructor_declaration
  name: (identifier) @name) @scope.method

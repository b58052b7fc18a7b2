; Definitions: @definition.<kind> on the whole node, @name on its name, @doc on a docstring.
; Methods are functions whose nearest enclosing definition is a class (decided in code).

(class_definition
  name: (identifier) @name
  body: (block . (expression_statement . (string) @doc .)?)) @definition.class

(function_definition
  name: (identifier) @name
  body: (block . (expression_statement . (string) @doc .)?)) @definition.function

; Module-level constants (UPPER_CASE) and type aliases.
(module
  (expression_statement
    (assignment
      left: (identifier) @name) @definition.constant)
  (#match? @name "^_*[A-Z][A-Z0-9_]*$"))

(module
  (expression_statement
    (assignment
      left: (identifier) @name
      type: (type (identifier) @_alias)) @definition.type)
  (#eq? @_alias "TypeAlias"))

(module
  (type_alias_statement
    left: (type (identifier) @name)) @definition.type)

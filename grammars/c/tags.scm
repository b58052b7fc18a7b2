; Definitions: @definition.<kind> on the whole node, @name on its name. Comments right above a
; definition are its doc (found in code). Prototypes count as definitions: in a header they are
; the API. `typedef struct {…} T;` is the struct T; `typedef struct s {…} T;` gives both.

(function_definition
  declarator: [
    (function_declarator declarator: (identifier) @name)
    (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
    (pointer_declarator declarator: (pointer_declarator
      declarator: (function_declarator declarator: (identifier) @name)))
  ]) @definition.function

(declaration
  declarator: [
    (function_declarator declarator: (identifier) @name)
    (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
    (pointer_declarator declarator: (pointer_declarator
      declarator: (function_declarator declarator: (identifier) @name)))
  ]) @definition.function

(struct_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @definition.struct

(union_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @definition.struct

(enum_specifier
  name: (type_identifier) @name
  body: (enumerator_list)) @definition.enum

(type_definition
  type: [(struct_specifier !name body: (_)) (union_specifier !name body: (_))]
  declarator: (type_identifier) @name) @definition.struct

(type_definition
  type: (enum_specifier !name body: (_))
  declarator: (type_identifier) @name) @definition.enum

(type_definition
  declarator: [
    (type_identifier) @name
    (pointer_declarator declarator: (type_identifier) @name)
    (array_declarator declarator: (type_identifier) @name)
    (function_declarator
      declarator: (parenthesized_declarator (pointer_declarator
        declarator: (type_identifier) @name)))
  ]) @definition.type

; #define NAME value, #define NAME(args) … (a bare `#define GUARD_H` defines nothing useful)
(preproc_def
  name: (identifier) @name
  value: (preproc_arg)) @definition.constant

(preproc_function_def
  name: (identifier) @name) @definition.function

; File-level `const` variables, also inside #if/#ifdef blocks (header guards).
([(translation_unit
   (declaration
     (type_qualifier "const")
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator declarator: [
                      (identifier) @name
                      (array_declarator declarator: (identifier) @name)])])) @definition.constant)
  (preproc_ifdef
   (declaration
     (type_qualifier "const")
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator declarator: [
                      (identifier) @name
                      (array_declarator declarator: (identifier) @name)])])) @definition.constant)
  (preproc_if
   (declaration
     (type_qualifier "const")
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator declarator: [
                      (identifier) @name
                      (array_declarator declarator: (identifier) @name)])])) @definition.constant)])

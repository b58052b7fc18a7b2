; Definitions: @definition.<kind> on the whole node, @name on its name, @parent on the class
; of an out-of-class member (`double Circle::area() const {…}`, `Grid<T>::at`). Comments right
; above a definition (or above its `template <…>`) are its doc (found in code). Functions in a
; class body become methods; prototypes count as definitions: in a header they are the API.

(namespace_definition
  name: [(namespace_identifier) (nested_namespace_specifier)] @name) @definition.namespace

(class_specifier
  name: [(type_identifier) @name (template_type name: (type_identifier) @name)]
  body: (field_declaration_list)) @definition.class

(struct_specifier
  name: [(type_identifier) @name (template_type name: (type_identifier) @name)]
  body: (field_declaration_list)) @definition.struct

(union_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @definition.struct

(enum_specifier
  name: (type_identifier) @name
  body: (enumerator_list)) @definition.enum

; Functions and methods, defined or declared: `f`, `~T`, `operator==`, returning a pointer or a
; reference, and out-of-class members qualified by their class (one or two levels).
(function_definition
  declarator: [
    (function_declarator declarator: [
      (identifier) (field_identifier) (destructor_name) (operator_name)] @name)
    (pointer_declarator declarator: (function_declarator declarator: [
      (identifier) (field_identifier) (destructor_name) (operator_name)] @name))
    (reference_declarator (function_declarator declarator: [
      (identifier) (field_identifier) (destructor_name) (operator_name)] @name))
  ]) @definition.function

(function_definition
  declarator: [
    (function_declarator declarator: (qualified_identifier
      scope: [(namespace_identifier) @parent (template_type name: (type_identifier) @parent)]
      name: [(identifier) (destructor_name) (operator_name)] @name))
    (pointer_declarator declarator: (function_declarator declarator: (qualified_identifier
      scope: [(namespace_identifier) @parent (template_type name: (type_identifier) @parent)]
      name: [(identifier) (destructor_name) (operator_name)] @name)))
    (reference_declarator (function_declarator declarator: (qualified_identifier
      scope: [(namespace_identifier) @parent (template_type name: (type_identifier) @parent)]
      name: [(identifier) (destructor_name) (operator_name)] @name)))
  ]) @definition.function

(function_definition
  declarator: [
    (function_declarator declarator: (qualified_identifier name: (qualified_identifier
      scope: [(namespace_identifier) @parent (template_type name: (type_identifier) @parent)]
      name: [(identifier) (destructor_name) (operator_name)] @name)))
    (pointer_declarator declarator: (function_declarator declarator: (qualified_identifier
      name: (qualified_identifier
        scope: [(namespace_identifier) @parent (template_type name: (type_identifier) @parent)]
        name: [(identifier) (destructor_name) (operator_name)] @name))))
    (reference_declarator (function_declarator declarator: (qualified_identifier
      name: (qualified_identifier
        scope: [(namespace_identifier) @parent (template_type name: (type_identifier) @parent)]
        name: [(identifier) (destructor_name) (operator_name)] @name))))
  ]) @definition.function

([(declaration
   declarator: [
     (function_declarator declarator: [
       (identifier) (destructor_name) (operator_name)] @name)
     (pointer_declarator declarator: (function_declarator declarator: [
       (identifier) (destructor_name) (operator_name)] @name))
     (reference_declarator (function_declarator declarator: [
       (identifier) (destructor_name) (operator_name)] @name))
   ])
  (field_declaration
   declarator: [
     (function_declarator declarator: [(field_identifier) (operator_name)] @name)
     (pointer_declarator declarator: (function_declarator declarator: [
       (field_identifier) (operator_name)] @name))
     (reference_declarator (function_declarator declarator: [
       (field_identifier) (operator_name)] @name))
   ])] @definition.function)

; Type aliases: `using T = …;`, typedefs, concepts.
(alias_declaration
  name: (type_identifier) @name) @definition.type

(type_definition
  type: [(struct_specifier !name body: (_)) (union_specifier !name body: (_))]
  declarator: (type_identifier) @name) @definition.struct

(type_definition
  type: (class_specifier !name body: (_))
  declarator: (type_identifier) @name) @definition.class

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

(concept_definition
  name: (identifier) @name) @definition.type

; #define NAME value, #define NAME(args) …
(preproc_def
  name: (identifier) @name
  value: (preproc_arg)) @definition.constant

(preproc_function_def
  name: (identifier) @name) @definition.function

; `const`/`constexpr` variables at file or namespace level (also inside #if/#ifdef blocks).
([(translation_unit
   (declaration
     (type_qualifier ["const" "constexpr"])
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator declarator: [
                      (identifier) @name
                      (array_declarator declarator: (identifier) @name)])])) @definition.constant)
  (declaration_list
   (declaration
     (type_qualifier ["const" "constexpr"])
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator declarator: [
                      (identifier) @name
                      (array_declarator declarator: (identifier) @name)])])) @definition.constant)
  (preproc_ifdef
   (declaration
     (type_qualifier ["const" "constexpr"])
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator declarator: [
                      (identifier) @name
                      (array_declarator declarator: (identifier) @name)])])) @definition.constant)
  (preproc_if
   (declaration
     (type_qualifier ["const" "constexpr"])
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator declarator: [
                      (identifier) @name
                      (array_declarator declarator: (identifier) @name)])])) @definition.constant)])

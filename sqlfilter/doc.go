// Package sqlfilter owns RocketMQ's SQL92 message filter: it parses an
// expression once (Compile), prints it canonically (Expr.String) and
// evaluates it against message properties many times (Expr.Match,
// Expr.MatchProperties) with the results RocketMQ's own evaluator gives
// for string-valued properties, as they arrive on the wire.
//
// It imports nothing of the broker and never keeps a reference to the
// properties it evaluates. Evaluation does not allocate.
//
// # Grammar
//
// Precedence, low to high:
//
//	OR
//	AND
//	=  <>  IS NULL  IS NOT NULL
//	>  >=  <  <=  [NOT] BETWEEN x AND y  [NOT] IN ('s', ...)
//	    [NOT] CONTAINS 's'  [NOT] STARTSWITH 's'  [NOT] ENDSWITH 's'
//	unary +  unary -  NOT
//	literal, property, ( expression )
//
// Keywords are case-insensitive; property names ([A-Za-z_$][A-Za-z0-9_$]*)
// are case-sensitive. TAGS and KEYS are ordinary properties. Literals:
// 'strings' with ” for a quote, integers (0 or [1-9][0-9]*, optional L;
// an Integer when within 32 bits, else a Long), floats (5.5, 5., .5, 5E10,
// 5.5E-3), TRUE, FALSE, NULL. Comments: -- to the end of the line, and
// /* ... */.
//
// Compile rejects, as RocketMQ does: a string, boolean or NULL literal or
// a boolean expression ordered with < <= > >= or BETWEEN; NULL with = or
// <>; a TRUE/FALSE literal on the left of = or <> against a non-boolean
// literal; BETWEEN with literal bounds where the lower is above the upper;
// IN whose left side is not a property or whose list is empty or holds
// anything but strings; CONTAINS and friends without a string literal on
// the right; integer literals beyond 64 bits; float literals that are
// infinite or below Double.MIN_VALUE (so 0.0 is rejected; write 0); a
// whole expression that is not boolean ('abc', 3). A bare property used
// as a boolean is TRUE only for a real boolean, so with string properties
// it is never TRUE: write a = TRUE.
//
// # Deliberate differences from RocketMQ
//
//   - Trailing tokens are an error. RocketMQ's parser stops after the
//     longest valid prefix and silently ignores the rest, so
//     "a like 'x%'" compiles to the bare property a (never TRUE),
//     "a > 1 + 2" to a > 1 and "a = 'x' garbage" to a = 'x'. Such an
//     expression almost always hides a mistake, so Compile rejects it;
//     a consumer sending one gets SUBSCRIPTION_PARSE_FAILED instead of a
//     filter that quietly means something else.
//   - A -- comment may end at the end of the input (RocketMQ needs a line
//     break after it).
//   - An integer literal with a leading zero (007) is rejected with its
//     own message; RocketMQ reads it as 0 followed by a trailing token.
//   - Nesting deeper than 1000 levels is rejected.
//   - An expression longer than MaxExpressionBytes (4 KiB) is rejected
//     before it is read. Clients send short expressions; a longer one
//     costs milliseconds and megabytes to parse, so it is refused without
//     being parsed.
//   - Strings compare by their UTF-8 bytes. For valid UTF-8 this is
//     Java's String.equals; RocketMQ decodes invalid UTF-8 to U+FFFD first.
//
// # Evaluation
//
// Three-valued logic: a comparison with a missing property is NULL
// (unknown), NOT NULL is NULL, AND/OR follow SQL, and only TRUE matches.
// When an operand must be converted and cannot be (Integer.valueOf("3.5")),
// RocketMQ throws and the message does not match; Evaluate reports this
// as Error. AND and OR evaluate their right side only when needed, so
// operand order decides whether such an error happens, as in RocketMQ.
//
// Typed comparison: the property (a string) is converted to the type of
// the other operand with Java's rules. Integer/Long.valueOf: optional sign,
// decimal digits only, no white space. Double.valueOf: surrounding
// characters up to U+0020 trimmed, exponents, NaN, Infinity, hexadecimal
// floats and a trailing d/f suffix accepted; doubles are ordered by
// Double.compareTo (NaN above everything, -0.0 below 0.0). Boolean.valueOf:
// "true" in any case. Two properties under < <= > >= are both read as
// doubles; under = they are compared as strings. Numbers widen
// Integer → Long → Double. IN is exact string membership and NULL for a
// missing property. CONTAINS, STARTSWITH, ENDSWITH and their NOT forms
// are FALSE for a missing property or an empty search string.
package sqlfilter

// Package lint checks rules that the package docs state and the compiler
// does not: which package may import which (the layering table in
// lint_test.go), and staticcheck's findings (staticcheck is pinned in go.mod
// as a tool). It has no code of its own; `go test ./internal/lint/` runs the
// checks, and `go test ./...` includes them.
package lint

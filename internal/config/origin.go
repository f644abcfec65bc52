package config

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// settingError is an invalid value of one key. Load adds where the value
// came from, so an operator knows whether to fix a flag, the environment or
// the file.
type settingError struct {
	key, msg string
	origin   string // "" until Load knows it
}

func (e *settingError) Error() string {
	s := fmt.Sprintf("%v: %s: %s", ErrInvalid, e.key, e.msg)
	if e.origin != "" {
		s += " (" + e.origin + ")"
	}
	return s
}

// Is makes every setting error an ErrInvalid.
func (e *settingError) Is(target error) bool { return target == ErrInvalid }

// Origin kinds of a value, as Origin reports them.
const (
	OriginDefault = "default"
	OriginFlag    = "flag"
	OriginEnv     = "environment"
	OriginFile    = "file"
)

// origins records where each key's value came from.
type origins struct {
	kind map[string]string // key → Origin*
	file string
}

// describe says where key's value came from, for an error message.
func (o *origins) describe(key string) string {
	switch o.kind[key] {
	case OriginFlag:
		return "set by flag -" + key
	case OriginEnv:
		return "set by environment " + EnvName(key)
	case OriginFile:
		return "set in " + o.file
	}
	return "the default"
}

// withOrigin adds to a setting error where its value came from.
func (o *origins) withOrigin(err error) error {
	var se *settingError
	if errors.As(err, &se) && se.origin == "" {
		se.origin = o.describe(se.key)
	}
	return err
}

// Origin reports where key's value came from: OriginFlag, OriginEnv,
// OriginFile or OriginDefault.
func (c *Config) Origin(key string) string {
	if k, ok := c.origins.kind[key]; ok {
		return k
	}
	return OriginDefault
}

// DescribeOrigin is Origin in words ("set by environment COMET_LISTEN"),
// for messages about a key's value.
func (c *Config) DescribeOrigin(key string) string { return c.origins.describe(key) }

// unknownEnv lists the COMET_* names in environ that are no key of fs
// (nor COMET_CONFIG): a misspelt variable is otherwise silently ignored.
func unknownEnv(fs *flag.FlagSet, environ []string) []string {
	known := map[string]bool{"COMET_CONFIG": true}
	fs.VisitAll(func(f *flag.Flag) { known[EnvName(f.Name)] = true })
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "COMET_") && !known[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// typedValue is a flag's value as /status shows it: numbers and booleans
// as such, durations in seconds, the rest as text.
func typedValue(f *flag.Flag) any {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return f.Value.String()
	}
	switch v := g.Get().(type) {
	case time.Duration:
		return v.Seconds()
	case bool, int, int64, uint, uint64, float64, string:
		return v
	}
	return f.Value.String()
}

// TypedValues returns every key with its final value typed: numbers,
// booleans, durations in seconds, text.
func (c *Config) TypedValues() map[string]any { return maps.Clone(c.typed) }

package mqtt

import (
	"errors"
	"strings"
)

// Topic names and filters (§4.7 of both specifications): '/' separates
// levels, empty levels are legal and distinct, '+' is one whole level,
// '#' is the whole last level and matches its parent too, and a filter
// starting with a wildcard never matches a name starting with '$'.
// Shared subscriptions are "$share/<share name>/<filter>".

const sharePrefix = "$share/"

// errors of topic validation (wrapped by the codec's reason errors).
var (
	errTopicEmpty    = errors.New("empty topic")
	errTopicWildcard = errors.New("wildcard in a topic name")
	errFilterHash    = errors.New("'#' not alone in the last level")
	errFilterPlus    = errors.New("'+' not alone in its level")
	errShareName     = errors.New("bad shared subscription")
)

// validateTopicName checks a PUBLISH (or Will) topic name.
func validateTopicName(topic string) error {
	if topic == "" {
		return errTopicEmpty
	}
	if strings.ContainsAny(topic, "+#") {
		return errTopicWildcard
	}
	return nil
}

// validateTopicFilter checks a filter without the shared prefix.
func validateTopicFilter(filter string) error {
	if filter == "" {
		return errTopicEmpty
	}
	for i := 0; i < len(filter); i++ {
		switch filter[i] {
		case '#':
			if i != len(filter)-1 || (i > 0 && filter[i-1] != '/') {
				return errFilterHash
			}
		case '+':
			if (i > 0 && filter[i-1] != '/') || (i < len(filter)-1 && filter[i+1] != '/') {
				return errFilterPlus
			}
		}
	}
	return nil
}

// parseFilter splits a subscription's filter into its share name ("" when
// not shared) and its topic filter, and validates both.
func parseFilter(full string) (share, filter string, err error) {
	if !strings.HasPrefix(full, sharePrefix) {
		return "", full, validateTopicFilter(full)
	}
	rest := full[len(sharePrefix):]
	i := strings.IndexByte(rest, '/')
	if i <= 0 {
		return "", "", errShareName
	}
	share, filter = rest[:i], rest[i+1:]
	if strings.ContainsAny(share, "+#") {
		return "", "", errShareName
	}
	if err := validateTopicFilter(filter); err != nil {
		return "", "", err
	}
	return share, filter, nil
}

// matchFilter reports whether filter matches topic, level by level: the
// reference the topic tree is tested (and fuzzed) against.
func matchFilter(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	fl := strings.Split(filter, "/")
	tl := strings.Split(topic, "/")
	for i, f := range fl {
		if f == "#" {
			return true
		}
		if i >= len(tl) {
			return false
		}
		if f != "+" && f != tl[i] {
			return false
		}
	}
	return len(fl) == len(tl)
}

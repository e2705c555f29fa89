// Package suggest provides "did you mean" suggestions: the candidate
// closest to a name that was mistyped.
package suggest

import "strings"

// Closest returns the candidate nearest to name, by edit distance ignoring
// case, when it is near enough to be a typo (at most a third of name's
// length, and at most 3, edits away); "" when none is, or when name is
// itself a candidate.
func Closest(name string, candidates []string) string {
	best, bestDist := "", 0
	for _, c := range candidates {
		if c == name {
			return ""
		}
		d := distance(strings.ToLower(name), strings.ToLower(c))
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := min(3, max(1, len([]rune(name))/3))
	if best == "" || bestDist > limit {
		return ""
	}
	return best
}

// distance is the Damerau-Levenshtein distance (optimal string alignment)
// between a and b, in runes: an adjacent transposition counts as one edit.
func distance(a, b string) int {
	s, t := []rune(a), []rune(b)
	prev2 := make([]int, len(t)+1)
	prev := make([]int, len(t)+1)
	cur := make([]int, len(t)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(s); i++ {
		cur[0] = i
		for j := 1; j <= len(t); j++ {
			cost := 1
			if s[i-1] == t[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && s[i-1] == t[j-2] && s[i-2] == t[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(t)]
}

package http

// resyncer finds the start of a request, a known method and a space at the start of a line
// (or at the first byte after the loss), across Data calls.
type resyncer struct {
	lineStart bool
	w         []byte // the method matched so far, then its space
	matching  bool
}

func (s *resyncer) start() { s.lineStart, s.matching, s.w = true, false, s.w[:0] }

// scan looks for a method in data. When found it returns the offset in data just after the
// space that follows it; the method and the space are in s.w.
func (s *resyncer) scan(data []byte) (int, bool) {
	for i, c := range data {
		switch {
		case s.matching && c == ' ' && isMethod(s.w):
			s.w = append(s.w, c)
			s.matching = false
			return i + 1, true
		case s.matching && 'A' <= c && c <= 'Z' && len(s.w) < 10:
			s.w = append(s.w, c)
		case s.lineStart && 'A' <= c && c <= 'Z':
			s.matching, s.w = true, append(s.w[:0], c)
		default:
			s.matching = false
		}
		s.lineStart = c == '\n'
	}
	return len(data), false
}

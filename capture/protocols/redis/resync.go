package redis

// resyncer finds the start of a command array, "*<count>\r\n$", at the start of a line (or at
// the first byte after the loss when that is a segment boundary), across Data calls.
type resyncer struct {
	on bool
	// lineStart: the next byte starts a line.
	lineStart bool
	// w holds the bytes of the pattern matched so far (at most 15).
	w     []byte
	state uint8
}

// Matching states: after '*', in the digits, after '\r', after '\n'.
const (
	rsNone uint8 = iota
	rsStar
	rsDigits
	rsCR
	rsLF
)

func (s *resyncer) start() {
	s.on, s.lineStart, s.state, s.w = true, true, rsNone, s.w[:0]
}

// scan looks for the pattern in data. When found it returns the offset in data just after
// its '$', the pattern itself is in s.w, and scanning is off.
func (s *resyncer) scan(data []byte) (int, bool) {
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case s.state == rsNone && c == '*' && s.lineStart:
			s.state, s.w = rsStar, append(s.w[:0], c)
		case (s.state == rsStar || s.state == rsDigits) && c >= '0' && c <= '9' && len(s.w) < 11:
			if s.state == rsStar && c == '0' {
				s.state = rsNone
				break
			}
			s.state, s.w = rsDigits, append(s.w, c)
		case s.state == rsDigits && c == '\r':
			s.state, s.w = rsCR, append(s.w, c)
		case s.state == rsCR && c == '\n':
			s.state, s.w = rsLF, append(s.w, c)
		case s.state == rsLF && c == '$':
			s.w = append(s.w, c)
			s.on, s.state = false, rsNone
			return i + 1, true
		case c == '*' && s.lineStart:
			s.state, s.w = rsStar, append(s.w[:0], c)
		default:
			s.state = rsNone
		}
		s.lineStart = c == '\n'
	}
	return len(data), false
}

// A stand-in for the Arduino core, so generated sketches compile and run on a host (tests, --check).
// Time advances 1 ms per micros() call; Serial writes to stdout.
#ifndef HAR_STUB_ARDUINO_H_
#define HAR_STUB_ARDUINO_H_
#include <stdio.h>

inline unsigned long stub_clock_us(bool advance) {
  static unsigned long now = 0;
  return advance ? (now += 1000) : now;
}
inline unsigned long micros() { return stub_clock_us(true); }
inline unsigned long millis() { return stub_clock_us(false) / 1000; }

struct StubSerial {
  void begin(long) {}
  explicit operator bool() const { return true; }
  void print(const char* s) { fputs(s, stdout); }
  void print(char c) { putchar(c); }
  void print(unsigned long v) { printf("%lu", v); }
  void print(double v, int digits) { printf("%.*f", digits, v); }
  void println() { putchar('\n'); }
  void println(const char* s) { puts(s); }
};
static StubSerial Serial;
#endif

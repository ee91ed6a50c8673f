// Stand-in for Arduino_LSM9DS1: a still IMU, in the library's units (g, deg/s).
#ifndef HAR_STUB_LSM9DS1_H_
#define HAR_STUB_LSM9DS1_H_
#include "Arduino.h"

struct StubImu {
  bool begin() { return true; }
  bool accelerationAvailable() { return true; }
  bool gyroscopeAvailable() { return true; }
  void readAcceleration(float& x, float& y, float& z) { x = 0.5f; y = -0.25f; z = 1.0f; }
  void readGyroscope(float& x, float& y, float& z) { x = 180.0f; y = -90.0f; z = 0.0f; }
};
static StubImu IMU;
#endif

// Stand-in for the Arduino TensorFlow Lite library's umbrella header: on the host the TFLM tree's
// include paths are given to the compiler directly.
#ifndef HAR_STUB_TENSORFLOWLITE_H_
#define HAR_STUB_TENSORFLOWLITE_H_
#endif

/* Minimal Cortex-M4 start-up for QEMU's mps2-an386 with semihosting: vector table, .data/.bss set-up,
 * FPU on, newlib's semihosting I/O, a SysTick that counts its wraps (for instructions per inference). */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
extern void __libc_init_array(void);
extern void initialise_monitor_handles(void);

volatile uint32_t har_systick_wraps;

void Reset_Handler(void) {
  uint32_t *src = &_sidata, *dst = &_sdata;
  while (dst < &_edata) *dst++ = *src++;
  for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
  *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20; /* CPACR: full access to CP10/CP11 (the FPU) */
  __asm volatile("dsb\n isb");
  initialise_monitor_handles();
  __libc_init_array();
  exit(main());
}

/* A fault (or any interrupt without a handler): end the emulation with status 70 rather than spin until the
 * host's timeout, so `har firmware --check` reports it at once. */
static void Default_Handler(void) { _exit(70); }

void SysTick_Handler(void) { har_systick_wraps++; }

typedef void (*handler_t)(void);
__attribute__((section(".isr_vector"), used)) const handler_t vectors[16] = {
    (handler_t)&_estack, Reset_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, 0, 0, 0, 0, Default_Handler, Default_Handler, 0, Default_Handler, SysTick_Handler,
};

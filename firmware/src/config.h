/* What the board is built with: set on the make command line (make CHANNELS=5). */
#ifndef CONFIG_H
#define CONFIG_H

#ifndef CHANNELS
#define CHANNELS 4
#endif
#if CHANNELS < 1 || CHANNELS > 5
/* ADC4 and ADC5 are the TWI pins; ADC0 is the voltage: ADC1-3, ADC6-7 remain. */
#error "CHANNELS must be 1 to 5"
#endif
#define INPUTS (CHANNELS + 1)

/* Sensor ranges: the peak value at ADC full scale (+-512 counts about the mid-scale bias),
 * as hil::emulated::node::NodeSpec's defaults: a ZMPT101B module and SCT-013 clamps. */
#ifndef V_PEAK
#define V_PEAK 400.0
#endif
#ifndef I_PEAK
#define I_PEAK 45.0
#endif

#define FIRMWARE_MAJOR 2
#define FIRMWARE_MINOR 0

/* The ADC at F_CPU/64 (250 kHz): 13 ADC clocks per conversion plus the start-up sync and the
 * ISR's margin make 1040 CPU cycles, 15,384 conversions/s shared by all inputs. */
#define SLOT_MIN_CYCLES 1040u
#define DEFAULT_SAMPLE_RATE 1800u

#endif

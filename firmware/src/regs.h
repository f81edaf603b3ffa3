/* The register map of hil/src/node.rs (the Rust driver is the specification) and the frames of
 * the I2C slave: a read snapshots its register whole, so no read mixes two cycles. No hardware
 * here: the TWI interrupt feeds it bytes and takes bytes from it. */
#ifndef REGS_H
#define REGS_H
#include <stdint.h>

#include "config.h"

#define REG_IDENTITY 0x00
#define REG_FIRMWARE 0x04
#define REG_STATUS 0x06
#define REG_SAMPLE_RATE 0x08
#define REG_VALUES 0x10
#define REG_CALIBRATION 0x90
#define REG_VOLTAGE_CALIBRATION 0xD0
#define REG_FAST 0xD8
#define REG_ENERGY 0xF0

#define STATUS_DATA_READY (1 << 0)
#define STATUS_ADC_OVERRUN (1 << 1)
#define STATUS_CALIBRATION_INVALID (1 << 2)
#define STATUS_WATCHDOG_RESET (1 << 3)

#define FRAME_MAX 33

typedef struct {
    int32_t gain_ppm;
    int32_t offset;
} calibration_t;

/* What the registers show, as the main loop publishes it (bytes as on the wire). */
typedef struct {
    uint8_t values[CHANNELS][16];
    uint8_t fast[2 + 2 * CHANNELS];
    uint8_t energy[4 * CHANNELS];
} image_t;

typedef struct {
    uint8_t address;
    /* Settings: the interrupt side writes them, the main loop stores them in EEPROM. */
    calibration_t cal[CHANNELS];
    calibration_t vcal;
    uint16_t sample_rate;
    volatile uint8_t settings_changed;
    uint8_t fast_read;  /* FAST was read: its maxima restart */
    uint8_t fast_epoch; /* counts those restarts */
    uint8_t flags;
    uint8_t sequence;
    image_t image;
    /* The frame under way. */
    uint8_t pointer;
    uint8_t rx[FRAME_MAX];
    uint8_t rx_n;
    uint8_t tx[FRAME_MAX];
    uint8_t tx_n, tx_i;
} node_t;

/* SLA+W acknowledged: a frame starts. */
void regs_write_start(node_t *n);
/* A byte received; returns whether the next byte is to be acknowledged. */
uint8_t regs_write_byte(node_t *n, uint8_t b);
/* STOP or repeated START after a write: a lone register byte sets the pointer. */
void regs_write_end(node_t *n);
/* SLA+R acknowledged: the register at the pointer, snapshotted with its PEC; the first byte. */
uint8_t regs_read_start(node_t *n);
/* The next byte to send. */
uint8_t regs_read_byte(node_t *n);

#endif

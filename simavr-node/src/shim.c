/* The measurement node's firmware in simavr: its ADC inputs asked of the caller at each
 * conversion's start, and its TWI joined to a bus master the caller drives byte by byte.
 *
 * simavr 1.6 (Debian's) has no TWI slave that can send more than one byte (nothing raises
 * TWINT for status 0xB8), so this file is the ATmega328P's TWI slave hardware instead: status
 * codes, TWINT and its interrupt, TWEA deciding each ACK, SCL held low (the master waits) until
 * the firmware clears TWINT, as the datasheet's section 22.7 describes. */
#include <simavr/avr_adc.h>
#include <simavr/avr_ioport.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_interrupts.h>
#include <simavr/sim_irq.h>
#include <simavr/sim_io.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TWSR 0xB9
#define TWAR 0xBA
#define TWDR 0xBB
#define TWCR 0xBC
#define MCUSR 0x54
#define PINB 0x23
#define PIND 0x29
#define TWINT 7
#define TWEA 6
#define TWSTO 4
#define TWEN 2
#define WDRF 3
#define VECTOR_TIMER1_COMPA 11
#define VECTOR_TWI 24
/* 400 kHz: nine clocks a byte with its acknowledge, at 16 MHz. */
#define BYTE_CYCLES 360
/* The Linux BCM2835 driver gives up on a clock held low this long (35 ms). */
#define STRETCH_TIMEOUT_CYCLES (35 * 16000)

typedef double (*gt_input_fn)(void *ctx, int input, double t);

typedef struct gt_node {
    avr_t *avr;
    void *ctx;
    gt_input_fn input;
    uint8_t address;
    avr_int_vector_t *twi;
    int released; /* the firmware wrote TWINT=1 */
    int addressed;
    int transmitting;
    uint8_t last_twea; /* TWEA when TWINT was last cleared */
    avr_cycle_count_t isr_start;
    uint64_t isr_cycles, isr_count, isr_max;
} gt_node;

static avr_int_vector_t *find_vector(avr_t *avr, int number)
{
    for (int i = 0; i < avr->interrupts.vector_count; i++)
        if (avr->interrupts.vector[i]->vector == number)
            return avr->interrupts.vector[i];
    return NULL;
}

/* The mux's input to the node's input index: ADC0 the voltage, then ADC1-3, ADC6-7. */
static int input_of(int src)
{
    static const int map[8] = {0, 1, 2, 3, -1, -1, 4, 5};
    return src >= 0 && src < 8 ? map[src] : -1;
}

static void adc_trigger(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    gt_node *n = param;
    union {
        avr_adc_mux_t mux;
        uint32_t v;
    } e = {.v = value};
    int input = input_of(e.mux.src);
    if (input < 0)
        return;
    /* The sample is held 1.5 ADC clocks (96 CPU cycles at /64) after the start. */
    double t = (double)(n->avr->cycle + 96) / n->avr->frequency;
    double mv = n->input(n->ctx, input, t);
    avr_irq_t *adc = avr_io_getirq(n->avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0 + e.mux.src);
    avr_raise_irq(adc, mv < 0 ? 0 : mv > 5000 ? 5000 : (uint32_t)mv);
}

static void timer_running(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    gt_node *n = param;
    if (value) {
        n->isr_start = n->avr->cycle;
    } else if (n->isr_start) {
        uint64_t d = n->avr->cycle - n->isr_start;
        n->isr_cycles += d;
        n->isr_count++;
        if (d > n->isr_max)
            n->isr_max = d;
        n->isr_start = 0;
    }
}

/* TWCR: TWINT is cleared by writing one, and only then does the bus move on. */
static void twcr_write(avr_t *avr, avr_io_addr_t addr, uint8_t v, void *param)
{
    gt_node *n = param;
    uint8_t old = avr->data[addr];
    uint8_t kept = (uint8_t)((v & ~(1 << TWINT) & ~(1 << TWSTO)) | (old & (1 << TWINT)));
    avr->data[addr] = kept;
    if ((v & (1 << TWINT)) && (old & (1 << TWINT))) {
        avr_clear_interrupt(avr, n->twi);
        avr->data[addr] &= ~(1 << TWINT);
        n->released = 1;
        n->last_twea = (v >> TWEA) & 1;
    }
}

static void set_address_pins(gt_node *n)
{
    /* DIP switches on PD2-PD7 and PB0: a closed switch holds its pin low (a one); an open one
     * leaves it to the pull-up. */
    uint8_t a = n->address;
    avr_ioport_external_t d = {.name = 'D', .mask = 0xFC, .value = (uint8_t)(~(a << 2) & 0xFC)};
    avr_ioport_external_t b = {.name = 'B', .mask = 0x01, .value = (uint8_t)(~(a >> 6) & 0x01)};
    avr_ioctl(n->avr, AVR_IOCTL_IOPORT_SET_EXTERNAL('D'), &d);
    avr_ioctl(n->avr, AVR_IOCTL_IOPORT_SET_EXTERNAL('B'), &b);
    /* A reset clears the PIN registers, and simavr does not repeat an unchanged pin level. */
    n->avr->data[PIND] = (uint8_t)((n->avr->data[PIND] & 0x03) | d.value);
    n->avr->data[PINB] = (uint8_t)((n->avr->data[PINB] & 0xFE) | b.value);
}

gt_node *gt_node_new(const char *elf, uint8_t address, void *ctx, gt_input_fn input)
{
    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(elf, &fw) != 0)
        return NULL;
    avr_t *avr = avr_make_mcu_by_name("atmega328p");
    if (!avr)
        return NULL;
    avr_init(avr);
    avr->log = 0;
    avr->frequency = 16000000;
    avr_load_firmware(avr, &fw);
    avr->frequency = 16000000;
    avr->vcc = avr->avcc = avr->aref = 5000;
    gt_node *n = calloc(1, sizeof *n);
    n->avr = avr;
    n->ctx = ctx;
    n->input = input;
    n->address = address;
    n->twi = find_vector(avr, VECTOR_TWI);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_OUT_TRIGGER),
                            adc_trigger, n);
    avr_int_vector_t *t1 = find_vector(avr, VECTOR_TIMER1_COMPA);
    if (t1)
        avr_irq_register_notify(t1->irq + AVR_INT_IRQ_RUNNING, timer_running, n);
    avr->io[AVR_DATA_TO_IO(TWCR)].w.c = twcr_write;
    avr->io[AVR_DATA_TO_IO(TWCR)].w.param = n;
    set_address_pins(n);
    return n;
}

void gt_node_free(gt_node *n)
{
    if (!n)
        return;
    avr_terminate(n->avr);
    free(n->avr);
    free(n);
}

/* Run until the CPU's cycle counter reaches `cycle`; 0, or -1 if the CPU stopped. */
int gt_node_run_until(gt_node *n, uint64_t cycle)
{
    while (n->avr->cycle < cycle) {
        int state = avr_run(n->avr);
        if (state == cpu_Done || state == cpu_Crashed)
            return -1;
    }
    return 0;
}

uint64_t gt_node_cycle(gt_node *n)
{
    return n->avr->cycle;
}

/* A reset by the watchdog: the CPU restarts with WDRF set in MCUSR; EEPROM is kept. */
void gt_node_reset(gt_node *n)
{
    avr_reset(n->avr);
    n->avr->data[MCUSR] |= 1 << WDRF;
    n->addressed = n->transmitting = 0;
    set_address_pins(n);
}

void gt_node_isr_stats(gt_node *n, uint64_t *cycles, uint64_t *count, uint64_t *max)
{
    *cycles = n->isr_cycles;
    *count = n->isr_count;
    *max = n->isr_max;
}

/* Set TWINT with `status` and hold the clock until the firmware clears it. 0, or -1 when it
 * held the clock past the master's timeout. */
static int event(gt_node *n, uint8_t status)
{
    avr_t *avr = n->avr;
    gt_node_run_until(n, avr->cycle + BYTE_CYCLES);
    avr->data[TWSR] = (uint8_t)((avr->data[TWSR] & 0x03) | status);
    n->released = 0;
    avr_raise_interrupt(avr, n->twi);
    uint64_t limit = avr->cycle + STRETCH_TIMEOUT_CYCLES;
    while (!n->released) {
        if (avr->cycle > limit || gt_node_run_until(n, avr->cycle + 16) != 0)
            return -1;
    }
    return 0;
}

static int enabled(gt_node *n)
{
    return (n->avr->data[TWCR] >> TWEN) & 1;
}

/* START (or repeated START) and the address byte: 1 ACK, 0 NAK, -1 clock held too long. */
int gt_twi_start(gt_node *n, uint8_t address, int read)
{
    avr_t *avr = n->avr;
    if (n->addressed && !n->transmitting) {
        /* A repeated START ends a write the slave is still addressed in. */
        n->addressed = 0;
        if (event(n, 0xA0) < 0)
            return -1;
    }
    n->addressed = n->transmitting = 0;
    int own = enabled(n) && (avr->data[TWCR] >> TWEA & 1) && (avr->data[TWAR] >> 1) == address;
    if (!own) {
        gt_node_run_until(n, avr->cycle + BYTE_CYCLES);
        return 0;
    }
    n->addressed = 1;
    n->transmitting = read;
    return event(n, read ? 0xA8 : 0x60) < 0 ? -1 : 1;
}

/* A byte from the master: 1 ACK, 0 NAK, -1 clock held too long. */
int gt_twi_write(gt_node *n, uint8_t byte)
{
    if (!n->addressed || n->transmitting)
        return 0;
    int ack = n->last_twea;
    n->avr->data[TWDR] = byte;
    if (!ack)
        n->addressed = 0; /* after a NAK the slave is no longer addressed */
    return event(n, ack ? 0x80 : 0x88) < 0 ? -1 : ack;
}

/* A byte to the master, who acknowledges it when `more` follow; -1 clock held too long. */
int gt_twi_read(gt_node *n, int more)
{
    if (!n->addressed || !n->transmitting) {
        gt_node_run_until(n, n->avr->cycle + BYTE_CYCLES);
        return 0xff;
    }
    uint8_t byte = n->avr->data[TWDR];
    uint8_t status = !more ? 0xC0 : n->last_twea ? 0xB8 : 0xC8;
    if (status != 0xB8)
        n->addressed = 0;
    return event(n, status) < 0 ? -1 : byte;
}

/* STOP. */
int gt_twi_stop(gt_node *n)
{
    int r = 0;
    if (n->addressed && !n->transmitting)
        r = event(n, 0xA0);
    n->addressed = n->transmitting = 0;
    return r;
}

//go:build !noasm

#include "textflag.h"

// Constants of lossTermsAVX2, each repeated in the four lanes of a vector.
#define CONST4(off, val) \
	DATA lossc<>+(off)(SB)/8, val; \
	DATA lossc<>+(off+8)(SB)/8, val; \
	DATA lossc<>+(off+16)(SB)/8, val; \
	DATA lossc<>+(off+24)(SB)/8, val

CONST4(0, $0x7fffffffffffffff)   // abs mask
CONST4(32, $-708.0)
CONST4(64, $1.44269504088896338700e+00)   // log2e
CONST4(96, $0.5)
CONST4(128, $6.93147180369123816490e-01)  // ln2Hi
CONST4(160, $1.90821492927058770002e-10)  // ln2Lo
CONST4(192, $1.66666666666666657415e-01)  // p1
CONST4(224, $-2.77777777770155933842e-03) // p2
CONST4(256, $6.61375632143793436117e-05)  // p3
CONST4(288, $-1.65339022054652515390e-06) // p4
CONST4(320, $4.13813679705723846039e-08)  // p5
CONST4(352, $1.0)
CONST4(384, $2.0)
CONST4(416, $1.41421356237309504880e+00)  // √2
CONST4(448, $6.666666666666735130e-01)    // l1
CONST4(480, $3.999999999940941908e-01)    // l2
CONST4(512, $2.857142874366239149e-01)    // l3
CONST4(544, $2.222219843214978396e-01)    // l4
CONST4(576, $1.818357216161805012e-01)    // l5
CONST4(608, $1.531383769920937332e-01)    // l6
CONST4(640, $1.479819860511658591e-01)    // l7
CONST4(672, $1023)                        // exponent bias (int64)
GLOBL lossc<>(SB), RODATA|NOPTR, $704

#define ABS lossc<>+0(SB)
#define MINX lossc<>+32(SB)
#define LOG2E lossc<>+64(SB)
#define HALF lossc<>+96(SB)
#define LN2HI lossc<>+128(SB)
#define LN2LO lossc<>+160(SB)
#define P1 lossc<>+192(SB)
#define P2 lossc<>+224(SB)
#define P3 lossc<>+256(SB)
#define P4 lossc<>+288(SB)
#define P5 lossc<>+320(SB)
#define ONE lossc<>+352(SB)
#define TWO lossc<>+384(SB)
#define SQRT2 lossc<>+416(SB)
#define L1 lossc<>+448(SB)
#define L2 lossc<>+480(SB)
#define L3 lossc<>+512(SB)
#define L4 lossc<>+544(SB)
#define L5 lossc<>+576(SB)
#define L6 lossc<>+608(SB)
#define L7 lossc<>+640(SB)
#define BIAS lossc<>+672(SB)

// func lossTermsAVX2(n int, z, y, r *float64) float64
//
// The vector form of lossTermsGo, four rows at a time; n%4 == 0, n > 0.
// Returns the sum of the loss terms (summed per lane, then across lanes)
// and stores p - y in r.
TEXT ·lossTermsAVX2(SB), NOSPLIT, $0-40
	MOVQ   n+0(FP), BX
	SHLQ   $3, BX
	MOVQ   z+8(FP), SI
	MOVQ   y+16(FP), DI
	MOVQ   r+24(FP), DX
	XORQ   AX, AX
	VXORPD Y15, Y15, Y15

loop:
	// e = exp(x), x = max(-|z|, -708)
	VMOVUPD     (SI)(AX*1), Y0    // z
	VANDPD      ABS, Y0, Y1
	VXORPD      Y2, Y2, Y2
	VSUBPD      Y1, Y2, Y1
	VMAXPD      MINX, Y1, Y1      // x
	VMULPD      LOG2E, Y1, Y2
	VSUBPD      HALF, Y2, Y2
	VCVTTPD2DQY Y2, X3            // k
	VCVTDQ2PD   X3, Y4            // float64(k)
	VMOVAPD     Y1, Y5
	VFNMADD231PD LN2HI, Y4, Y5    // hi = x - k·ln2Hi
	VMULPD      LN2LO, Y4, Y6     // lo = k·ln2Lo
	VSUBPD      Y6, Y5, Y7        // rr = hi - lo
	VMULPD      Y7, Y7, Y8        // t = rr²
	VMOVUPD     P5, Y9
	VFMADD213PD P4, Y8, Y9
	VFMADD213PD P3, Y8, Y9
	VFMADD213PD P2, Y8, Y9
	VFMADD213PD P1, Y8, Y9
	VMOVAPD     Y7, Y10
	VFNMADD231PD Y9, Y8, Y10      // c = rr - t·P(t)
	VMULPD      Y10, Y7, Y11      // rr·c
	VMOVUPD     TWO, Y12
	VSUBPD      Y10, Y12, Y12     // 2 - c
	VDIVPD      Y12, Y11, Y11
	VSUBPD      Y11, Y6, Y11      // lo - rr·c/(2-c)
	VSUBPD      Y5, Y11, Y11      // ... - hi
	VMOVUPD     ONE, Y12
	VSUBPD      Y11, Y12, Y11     // 1 - (...)
	VPMOVSXDQ   X3, Y12
	VPADDQ      BIAS, Y12, Y12
	VPSLLQ      $52, Y12, Y12     // 2^k
	VMULPD      Y12, Y11, Y1      // e

	// l = log(1+e) = log(u) + (e-(u-1))/u
	VADDPD      ONE, Y1, Y2       // u
	VMOVUPD     ONE, Y3
	VDIVPD      Y2, Y3, Y3        // inv = 1/u
	VSUBPD      ONE, Y2, Y4
	VSUBPD      Y4, Y1, Y4
	VMULPD      Y3, Y4, Y4        // corr
	VCMPPD      $0x1e, SQRT2, Y2, Y5 // u > √2
	VANDPD      ONE, Y5, Y6       // big
	VMULPD      HALF, Y6, Y7
	VMOVUPD     ONE, Y8
	VSUBPD      Y7, Y8, Y7        // 1 - big/2
	VMULPD      Y7, Y2, Y7
	VSUBPD      ONE, Y7, Y7       // f
	VADDPD      TWO, Y7, Y8
	VDIVPD      Y8, Y7, Y8        // s = f/(2+f)
	VMULPD      Y8, Y8, Y9        // s2
	VMULPD      Y9, Y9, Y10       // s4
	VMOVUPD     L7, Y11
	VFMADD213PD L5, Y10, Y11
	VFMADD213PD L3, Y10, Y11
	VFMADD213PD L1, Y10, Y11
	VMULPD      Y9, Y11, Y11      // t1
	VMOVUPD     L6, Y12
	VFMADD213PD L4, Y10, Y12
	VFMADD213PD L2, Y10, Y12
	VMULPD      Y10, Y12, Y12     // t2
	VMULPD      HALF, Y7, Y13
	VMULPD      Y7, Y13, Y13      // hfsq
	VADDPD      Y11, Y13, Y14
	VADDPD      Y12, Y14, Y14
	VMULPD      Y14, Y8, Y14      // s·(hfsq+t1+t2)
	VMULPD      LN2LO, Y6, Y9
	VADDPD      Y9, Y14, Y14
	VSUBPD      Y14, Y13, Y14     // hfsq - (...)
	VSUBPD      Y7, Y14, Y14      // ... - f
	VMULPD      LN2HI, Y6, Y9
	VSUBPD      Y14, Y9, Y14      // big·ln2Hi - (...)
	VADDPD      Y4, Y14, Y14      // l

	// r = q + pos·(1-2q) - y, q = e/u; sum += l + pos·z - y·z
	VXORPD      Y9, Y9, Y9
	VCMPPD      $0x1d, Y9, Y0, Y9 // z ≥ 0
	VANDPD      ONE, Y9, Y9       // pos
	VMULPD      Y3, Y1, Y10       // q
	VADDPD      Y10, Y10, Y11
	VMOVUPD     ONE, Y12
	VSUBPD      Y11, Y12, Y11
	VMULPD      Y9, Y11, Y11
	VADDPD      Y11, Y10, Y11
	VMOVUPD     (DI)(AX*1), Y12   // y
	VSUBPD      Y12, Y11, Y11
	VMOVUPD     Y11, (DX)(AX*1)
	VMULPD      Y0, Y9, Y13
	VADDPD      Y13, Y14, Y14
	VMULPD      Y0, Y12, Y13
	VSUBPD      Y13, Y14, Y14
	VADDPD      Y14, Y15, Y15

	ADDQ $32, AX
	CMPQ AX, BX
	JLT  loop

	VEXTRACTF128 $1, Y15, X0
	VADDPD       X0, X15, X0
	VHADDPD      X0, X0, X0
	VMOVSD       X0, ret+32(FP)
	VZEROUPPER
	RET

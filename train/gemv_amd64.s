//go:build !noasm

#include "textflag.h"

// AVX2/FMA kernels for the two matrix-vector products of an evaluation,
// on row-major blocks whose row length n is a positive multiple of 4.
// Registers: CX rows left, BX n in bytes, R8 row stride in bytes, SI the
// current row, R9-R12 four consecutive rows, AX the column offset in bytes.

// func gemvNAVX2(m, n, lda int, a, x, z *float64)
//
// z[i] = Σ_{j<n} a[i·lda+j]·x[j] for i < m.
TEXT ·gemvNAVX2(SB), NOSPLIT, $0-48
	MOVQ m+0(FP), CX
	MOVQ n+8(FP), BX
	SHLQ $3, BX
	MOVQ lda+16(FP), R8
	SHLQ $3, R8
	MOVQ a+24(FP), SI
	MOVQ x+32(FP), DI
	MOVQ z+40(FP), DX
	LEAQ (R8)(R8*2), R13

n_rows4:
	CMPQ CX, $4
	JLT  n_rows1
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	MOVQ   SI, R9
	LEAQ   (SI)(R8*1), R10
	LEAQ   (SI)(R8*2), R11
	LEAQ   (SI)(R13*1), R12

	XORQ AX, AX

n_cols8:
	LEAQ        64(AX), R14
	CMPQ        R14, BX
	JGT         n_cols4
	VMOVUPD     (DI)(AX*1), Y8
	VMOVUPD     32(DI)(AX*1), Y9
	VFMADD231PD (R9)(AX*1), Y8, Y0
	VFMADD231PD (R10)(AX*1), Y8, Y1
	VFMADD231PD (R11)(AX*1), Y8, Y2
	VFMADD231PD (R12)(AX*1), Y8, Y3
	VFMADD231PD 32(R9)(AX*1), Y9, Y4
	VFMADD231PD 32(R10)(AX*1), Y9, Y5
	VFMADD231PD 32(R11)(AX*1), Y9, Y6
	VFMADD231PD 32(R12)(AX*1), Y9, Y7
	MOVQ        R14, AX
	JMP         n_cols8

n_cols4:
	CMPQ        AX, BX
	JGE         n_reduce4
	VMOVUPD     (DI)(AX*1), Y8
	VFMADD231PD (R9)(AX*1), Y8, Y0
	VFMADD231PD (R10)(AX*1), Y8, Y1
	VFMADD231PD (R11)(AX*1), Y8, Y2
	VFMADD231PD (R12)(AX*1), Y8, Y3
	ADDQ        $32, AX
	JMP         n_cols4

n_reduce4:
	// Y0..Y3 hold the partial sums of rows a, b, c, d.
	VADDPD     Y4, Y0, Y0
	VADDPD     Y5, Y1, Y1
	VADDPD     Y6, Y2, Y2
	VADDPD     Y7, Y3, Y3
	VHADDPD    Y1, Y0, Y0             // a01 b01 a23 b23
	VHADDPD    Y3, Y2, Y2             // c01 d01 c23 d23
	VPERM2F128 $0x21, Y2, Y0, Y1      // a23 b23 c01 d01
	VBLENDPD   $0x0c, Y2, Y0, Y0      // a01 b01 c23 d23
	VADDPD     Y1, Y0, Y0
	VMOVUPD    Y0, (DX)
	ADDQ       $32, DX
	LEAQ       (SI)(R8*4), SI
	SUBQ       $4, CX
	JMP        n_rows4

n_rows1:
	TESTQ  CX, CX
	JEQ    n_done
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	XORQ   AX, AX

n_r1cols8:
	LEAQ        64(AX), R14
	CMPQ        R14, BX
	JGT         n_r1cols4
	VMOVUPD     (DI)(AX*1), Y8
	VMOVUPD     32(DI)(AX*1), Y9
	VFMADD231PD (SI)(AX*1), Y8, Y0
	VFMADD231PD 32(SI)(AX*1), Y9, Y1
	MOVQ        R14, AX
	JMP         n_r1cols8

n_r1cols4:
	CMPQ        AX, BX
	JGE         n_r1reduce
	VMOVUPD     (DI)(AX*1), Y8
	VFMADD231PD (SI)(AX*1), Y8, Y0
	ADDQ        $32, AX
	JMP         n_r1cols4

n_r1reduce:
	VADDPD       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VHADDPD      X0, X0, X0
	VMOVSD       X0, (DX)
	ADDQ         $8, DX
	ADDQ         R8, SI
	DECQ         CX
	JMP          n_rows1

n_done:
	VZEROUPPER
	RET

// func gemvTAVX2(m, n, lda int, a, r, y *float64)
//
// y[j] += Σ_{i<m} a[i·lda+j]·r[i] for j < n, rows added in order.
TEXT ·gemvTAVX2(SB), NOSPLIT, $0-48
	MOVQ m+0(FP), CX
	MOVQ n+8(FP), BX
	SHLQ $3, BX
	MOVQ lda+16(FP), R8
	SHLQ $3, R8
	MOVQ a+24(FP), SI
	MOVQ r+32(FP), DI
	MOVQ y+40(FP), DX
	LEAQ (R8)(R8*2), R13

t_rows4:
	CMPQ         CX, $4
	JLT          t_rows1
	VBROADCASTSD (DI), Y0
	VBROADCASTSD 8(DI), Y1
	VBROADCASTSD 16(DI), Y2
	VBROADCASTSD 24(DI), Y3
	MOVQ         SI, R9
	LEAQ         (SI)(R8*1), R10
	LEAQ         (SI)(R8*2), R11
	LEAQ         (SI)(R13*1), R12
	XORQ         AX, AX

t_cols8:
	LEAQ        64(AX), R14
	CMPQ        R14, BX
	JGT         t_cols4
	VMOVUPD     (DX)(AX*1), Y4
	VMOVUPD     32(DX)(AX*1), Y5
	VFMADD231PD (R9)(AX*1), Y0, Y4
	VFMADD231PD 32(R9)(AX*1), Y0, Y5
	VFMADD231PD (R10)(AX*1), Y1, Y4
	VFMADD231PD 32(R10)(AX*1), Y1, Y5
	VFMADD231PD (R11)(AX*1), Y2, Y4
	VFMADD231PD 32(R11)(AX*1), Y2, Y5
	VFMADD231PD (R12)(AX*1), Y3, Y4
	VFMADD231PD 32(R12)(AX*1), Y3, Y5
	VMOVUPD     Y4, (DX)(AX*1)
	VMOVUPD     Y5, 32(DX)(AX*1)
	MOVQ        R14, AX
	JMP         t_cols8

t_cols4:
	CMPQ        AX, BX
	JGE         t_next4
	VMOVUPD     (DX)(AX*1), Y4
	VFMADD231PD (R9)(AX*1), Y0, Y4
	VFMADD231PD (R10)(AX*1), Y1, Y4
	VFMADD231PD (R11)(AX*1), Y2, Y4
	VFMADD231PD (R12)(AX*1), Y3, Y4
	VMOVUPD     Y4, (DX)(AX*1)
	ADDQ        $32, AX
	JMP         t_cols4

t_next4:
	ADDQ $32, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, CX
	JMP  t_rows4

t_rows1:
	TESTQ        CX, CX
	JEQ          t_done
	VBROADCASTSD (DI), Y0
	XORQ         AX, AX

t_r1cols4:
	CMPQ        AX, BX
	JGE         t_r1next
	VMOVUPD     (DX)(AX*1), Y4
	VFMADD231PD (SI)(AX*1), Y0, Y4
	VMOVUPD     Y4, (DX)(AX*1)
	ADDQ        $32, AX
	JMP         t_r1cols4

t_r1next:
	ADDQ $8, DI
	ADDQ R8, SI
	DECQ CX
	JMP  t_rows1

t_done:
	VZEROUPPER
	RET

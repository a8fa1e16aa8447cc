package train

import "math"

// lossTerms computes, for rows with scores z[i] = θ·x_i and labels y[i],
// the sum of the rows' loss terms
//
//	log(1+exp(-|z|)) + max(z, 0) - y·z  (= -y ln p - (1-y) ln(1-p))
//
// and stores p - y, the factor of x_i in the row's gradient, in r[i].
//
// It runs once per row per evaluation, so it avoids function calls and
// branches on the data: exp(-|z|) and log(1+e) are the fdlibm algorithms of
// Go's math.Exp and math.Log (each within 1 ulp), restricted to the inputs
// that occur here and written inline; exp(-|z|) below 2^-1021, which adds
// nothing to a loss or a gradient, is taken as 0.
func lossTerms(z, y, r []float64) float64 {
	sum := 0.0
	if n4 := len(z) &^ 3; useAVX2 && n4 > 0 {
		_, _ = y[n4-1], r[n4-1]
		sum = lossTermsAVX2(n4, &z[0], &y[0], &r[0])
		z, y, r = z[n4:], y[n4:], r[n4:]
	}
	return sum + lossTermsGo(z, y, r)
}

// lossTermsGo is lossTerms without assembly.
func lossTermsGo(z, y, r []float64) float64 {
	const (
		ln2Hi = 6.93147180369123816490e-01
		ln2Lo = 1.90821492927058770002e-10
		log2e = 1.44269504088896338700e+00

		p1 = 1.66666666666666657415e-01
		p2 = -2.77777777770155933842e-03
		p3 = 6.61375632143793436117e-05
		p4 = -1.65339022054652515390e-06
		p5 = 4.13813679705723846039e-08

		l1 = 6.666666666666735130e-01
		l2 = 3.999999999940941908e-01
		l3 = 2.857142874366239149e-01
		l4 = 2.222219843214978396e-01
		l5 = 1.818357216161805012e-01
		l6 = 1.531383769920937332e-01
		l7 = 1.479819860511658591e-01

		sqrt2Bits = 0x3ff6a09e667f3bcd // math.Float64bits(math.Sqrt2)
	)
	y = y[:len(z)]
	r = r[:len(z)]
	sum := 0.0
	for i, zi := range z {
		// e = exp(x), x = -|z| ≤ 0.
		x := -math.Abs(zi)
		x = max(x, -708) // exp(-708) ≈ 3e-308 stands for anything smaller
		k := int(log2e*x - 0.5)
		fk := float64(k)
		hi := x - fk*ln2Hi
		lo := fk * ln2Lo
		rr := hi - lo
		t := rr * rr
		c := rr - t*(p1+t*(p2+t*(p3+t*(p4+t*p5))))
		e := (1 - ((lo - (rr*c)/(2-c)) - hi)) * math.Float64frombits(uint64(k+1023)<<52)

		// l = log(1+e), 0 < e ≤ 1: log(u) for u = 1+e rounded, plus the
		// rounding error of u (exact) divided by u.
		u := 1 + e
		inv := 1 / u
		corr := (e - (u - 1)) * inv
		// Reduce u to [√2/2, √2]: halve it when u > √2 (exactly, no branch).
		big := float64(int64(sqrt2Bits-math.Float64bits(u)) >> 63 & 1)
		f := u*(1-0.5*big) - 1
		s := f / (2 + f)
		s2 := s * s
		s4 := s2 * s2
		t1 := s2 * (l1 + s4*(l3+s4*(l5+s4*l7)))
		t2 := s4 * (l2 + s4*(l4+s4*l6))
		hfsq := 0.5 * f * f
		l := big*ln2Hi - ((hfsq - (s*(hfsq+t1+t2) + big*ln2Lo)) - f) + corr

		pos := float64(1 - math.Float64bits(zi)>>63) // 1 if z ≥ +0, else 0
		q := e * inv                                 // sigmoid(-|z|)
		r[i] = q + pos*(1-2*q) - y[i]                // p - y
		sum += l + pos*zi - y[i]*zi
	}
	return sum
}

"""Reference values for src/eval/stats.rs, computed with SciPy and statsmodels.

Run: python3 -m pip install scipy statsmodels && python3 docs/stats-reference.py
The output is the table in docs/evals.md ("Reference vectors"); the unit tests in
src/eval/stats.rs pin the Rust code to it.
"""
import math
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

def newcombe(a,b,c,d):
    n=a+b+c+d
    p1=(a+c)/n; p2=(a+b)/n
    l1,u1=proportion_confint(a+c,n,alpha=0.05,method='wilson')
    l2,u2=proportion_confint(a+b,n,alpha=0.05,method='wilson')
    den=(a+b)*(c+d)*(a+c)*(b+d)
    phi=0 if den==0 else (a*d-b*c)/math.sqrt(den)
    th=p1-p2
    dl=math.sqrt(max(0,(p1-l1)**2-2*phi*(p1-l1)*(u2-p2)+(u2-p2)**2))
    eu=math.sqrt(max(0,(u1-p1)**2-2*phi*(u1-p1)*(p2-l2)+(p2-l2)**2))
    return th-dl, th+eu

for (a,b,c,d) in [(104,14,82,0),(16,3,1,0),(10,0,0,0),(8,4,1,3),(50,12,0,0)]:
    p=mcnemar([[a,b],[c,d]],exact=True).pvalue
    lo,hi=newcombe(a,b,c,d)
    print(f"({a},{b},{c},{d}) mcnemar p={p:.12g} newcombe=({lo:.10f},{hi:.10f})")
for k,n in [(0,10),(7,20),(96,200)]:
    print("wilson",k,n,proportion_confint(k,n,method='wilson'))
print("sign", stats.binomtest(2,9,0.5).pvalue, stats.binomtest(0,5).pvalue)
for p in [0.975,0.995,0.8,0.5,1e-6]:
    print("z",p,repr(stats.norm.ppf(p)))
for df in [1,4,19,99]:
    print("t",df,repr(stats.t.ppf(0.975,df)))
# connor sample size
def connor(psi,delta,alpha=0.05,power=0.8):
    za=stats.norm.ppf(1-alpha/2); zb=stats.norm.ppf(power)
    psi=max(psi,delta)
    return (za*math.sqrt(psi)+zb*math.sqrt(psi-delta**2))**2/delta**2
print("connor", connor(0.2,0.03), connor(0.0,0.03))
# t interval for repeated: diffs
import numpy as np
diffs=np.array([-0.2,0.0,0.4,-0.6,0.0,-0.2,0.2,-0.4])
m=diffs.mean(); s=diffs.std(ddof=1); k=len(diffs)
h=stats.t.ppf(0.975,k-1)*s/math.sqrt(k)
print("tint", m, m-h, m+h, "sign p", stats.binomtest(2,6).pvalue)

# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Семинар 1. MLP на PyTorch и автоматическое дифференцирование
#
# **Темы курса:** введение в глубинное обучение, обучение нейросетей, алгоритм обратного
# распространения ошибки.
#
# Семинар построен по принципу **«снаружи внутрь»**:
#
# 1. сначала учимся **пользоваться** инструментом: тензоры PyTorch, многослойный перцептрон,
#    функция потерь, обучение;
# 2. потом разбираемся, **как он устроен** внутри: прямой и обратный проход, цепное правило,
#    матричное дифференцирование, свой маленький autograd;
# 3. наконец, **практикуемся**: блиц-вопросы и упражнения для самостоятельной работы.
#
# Ноутбук выполняется сверху вниз в свежем ядре на обычном компьютере (CPU); сколько занял весь
# запуск, печатает последняя ячейка. Все числа, которые он печатает, измеряются при этом запуске.
#
# ## План занятия (одна пара, 90 минут)
#
# На занятии идём по разделам из таблицы; минуты — ориентир для преподавателя с часами, с учётом
# вопросов к аудитории и пауз на ответ (по оценкам свежих читателей-преподавателей). В сумме 85 минут:
# оставшиеся 5 минут пары — запас на вопросы аудитории. На каждую тему на занятии — не больше
# трёх ячеек кода, которые выполняем (считая ячейки подразделов для самостоятельного изучения, которые
# на занятии просто выполняем, как замер времени в 8.1). Подразделы с
# пометкой **«Для самостоятельного изучения»** на занятии не разбираем: это углубление для чтения дома,
# оно тоже выполняется и проверяется тестами (а от некоторых его ячеек зависят следующие). Чтобы на
# занятии не ждать ячеек, выполните весь ноутбук заранее (Run All; время запуска печатает последняя
# ячейка). Упражнения в конце — для самостоятельной работы.
#
# | Раздел | Что успеваем на занятии | Время | К минуте |
# |---|---|---|---|
# | Подготовка | версии библиотек, один поток | 2 мин | 2 |
# | **Часть I. PyTorch MLP** | | | |
# | 1. Знакомство с PyTorch | три ячейки: 1.1 тензоры как массивы NumPy, 1.4 broadcasting и ловушка `(n, 1) - (n,)`, 1.5 autograd: `requires_grad`, `backward`, накопление `.grad`, `no_grad` | 9 мин | 11 |
# | 2. Данные: make_moons | выборка и отложенная выборка | 3 мин | 14 |
# | 3. Модель MLP | `nn.Module`, число параметров | 6 мин | 20 |
# | 4. Функция потерь: SVM max-margin loss + L2 | формула hinge loss + L2 и один график | 6 мин | 26 |
# | 5. Обучение: SGD своими руками | четыре ключевые строки цикла, кривые, граница | 7 мин | 33 |
# | 6. Роль нелинейностей: ReLU, Sigmoid, Identity | три границы; Identity — линейная модель; плато сигмоиды на уровне линейной модели | 7 мин | 40 |
# | 7. Сравнение с SVM | запускаем и читаем таблицу трёх SVM | 2 мин | 42 |
# | 8. Батчинг и эффективность | цикл и батч дают один градиент; запускаем замер и читаем ускорение | 4 мин | 46 |
# | 9. Резюме части I | и вступление к части II | 1 мин | 47 |
# | **Часть II. Autograd и backpropagation** | | | |
# | 1. Мотивация: зачем нужно автоматическое дифференцирование | конечные разности по 300 параметрам и оценка для всех против одного backward | 6 мин | 53 |
# | 2. Forward и backward pass | граф $f = (x + y) z$ руками и в PyTorch (рисунок — дома) | 5 мин | 58 |
# | 3. Chain rule | один пример: сумма по путям для SiLU | 4 мин | 62 |
# | 4. Матричное дифференцирование | градиент имеет форму своей переменной; 4.4 линейный слой: три градиента и их формы | 4 мин | 66 |
# | 5. Примеры в PyTorch: сложение и умножение | одна ячейка: сложение раздаёт градиент, умножение меняет входы местами | 1 мин | 67 |
# | 6. Собственный autograd: класс Value | магические методы и замыкания (одна фраза каждое), `+`, `*`, `tanh`, рекурсивная топологическая сортировка, метод `backward` | 13 мин | 80 |
# | 7. Резюме части II |  | 1 мин | 81 |
# | Блиц-вопросы | вопросы 3, 6, 13 | 3 мин | 84 |
# | Связанные домашние задания | что сдавать | 1 мин | 85 |
#
# Дома: подразделы «Для самостоятельного изучения», остальные блиц-вопросы, упражнения и
# домашние задания.

# %% [markdown]
# ## Подготовка
#
# Импортируем библиотеки, фиксируем генераторы случайных чисел и печатаем версии: если у вас
# что-то считается иначе, первым делом сравните версии.
#
# PyTorch просим считать в **один поток** (`torch.set_num_threads(1)`): наши тензоры маленькие,
# и на них потоки не ускоряют, а на загруженной машине мешают друг другу.

# %%
import copy
import gc
import math
import os
import platform
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from itertools import pairwise

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import sklearn
import torch
from matplotlib.patches import Patch
from matplotlib.text import Text
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC, LinearSVC
from torch import nn
from tqdm import tqdm

NOTEBOOK_START = time.perf_counter()  # время всего запуска печатает последняя ячейка ноутбука
SEED = 0
torch.manual_seed(SEED)
rng = np.random.default_rng(SEED)
# Тензоры в семинаре маленькие: на них многопоточность не ускоряет, а на занятой машине
# заметно тормозит и делает замеры времени шумными. Поэтому считаем в один поток.
torch.set_num_threads(1)

print(f"Python       {platform.python_version()}")
print(f"PyTorch      {torch.__version__}")
print(f"NumPy        {np.__version__}")
print(f"Matplotlib   {matplotlib.__version__}")
print(f"scikit-learn {sklearn.__version__}")
print(f"Потоков CPU у PyTorch: {torch.get_num_threads()}, GPU доступен: {torch.cuda.is_available()}")

# %% [markdown]
# # Часть I. PyTorch MLP

# %% [markdown]
# ## 1. Знакомство с PyTorch
#
# PyTorch — библиотека для вычислений с **тензорами** (tensor): многомерными массивами, как
# `np.ndarray` в NumPy, но тензор умеет вычислять производные (**автоматическое дифференцирование**,
# autograd, — часть II) и жить на видеокарте (GPU). На занятии — три ячейки: 1.1, 1.4 и 1.5;
# остальное (типы, операции, формы, индексация) — в подразделах для самостоятельного изучения.

# %% [markdown]
# ### 1.1. Создание тензоров: аналогия с NumPy
#
# Почти у каждой функции NumPy есть тёзка в PyTorch. Создадим одно и то же двумя способами и
# сравним форму (shape) и тип элементов (dtype).

# %%
creation_pairs = {
    "из списка": (np.array([[1, 2], [3, 4]]), torch.tensor([[1, 2], [3, 4]])),
    "zeros(2, 3)": (np.zeros((2, 3)), torch.zeros(2, 3)),
    "ones(2, 3)": (np.ones((2, 3)), torch.ones(2, 3)),
    "arange(0, 10, 3)": (np.arange(0, 10, 3), torch.arange(0, 10, 3)),
    "linspace(0, 1, 5)": (np.linspace(0, 1, 5), torch.linspace(0, 1, 5)),
    "eye(3)": (np.eye(3), torch.eye(3)),
}
print(f"{'':18} {'NumPy shape':12} {'dtype':8} | {'PyTorch shape':14} dtype")
for what, (array, tensor) in creation_pairs.items():
    same_values = np.allclose(array, tensor.numpy())
    print(f"{what:18} {array.shape!s:12} {array.dtype!s:8} | {tuple(tensor.shape)!s:14} {tensor.dtype}"
          f"   значения совпадают: {same_values}")

# %% [markdown]
# Обратите внимание на dtype: вещественные массивы NumPy — `float64`, а тензоры — `float32`.
#
# ### 1.2. Для самостоятельного изучения: тип элементов (dtype) и его значения по умолчанию
#
# Проверим ещё тензор из массива NumPy и сумму целого тензора с вещественным.

# %%
print("torch.get_default_dtype()        ->", torch.get_default_dtype())
print("np.array([1.0, 2.0]).dtype       ->", np.array([1.0, 2.0]).dtype)
print("torch.tensor([1.0, 2.0]).dtype   ->", torch.tensor([1.0, 2.0]).dtype)
print("torch.tensor([1, 2]).dtype       ->", torch.tensor([1, 2]).dtype)
print("torch.from_numpy(float64).dtype  ->", torch.from_numpy(np.array([1.0, 2.0])).dtype)
print("(int64 + float32).dtype          ->", (torch.tensor([1, 2]) + torch.tensor([0.5, 0.5])).dtype)
print("NumPy: (int64 + float32).dtype   ->", (np.array([1, 2]) + np.array([0.5, 0.5], dtype=np.float32)).dtype)

# %% [markdown]
# Вещественные числа в NumPy по умолчанию `float64`, в PyTorch — `float32`: нейросетям хватает
# одинарной точности, она занимает вдвое меньше памяти и обычно считается быстрее. Но
# `torch.from_numpy` **сохраняет** dtype массива, и тензор из NumPy оказывается `float64`.
# При смешивании целого и вещественного тензоров результат вещественный, причём PyTorch берёт
# вещественный тип операнда (`int64 + float32 -> float32`), а NumPy повышает до `float64`.
#
# **Вопрос.** Линейный слой `nn.Linear(in, out)` считает $x W^\top + b$ (подробно — в разделе 3),
# и его веса имеют тип `float32`. Что будет, если подать в слой тензор,
# полученный из массива NumPy «как есть»?

# %%
demo_layer = nn.Linear(2, 1)
try:
    demo_layer(torch.from_numpy(np.ones((1, 2))))
except RuntimeError as error:
    print("RuntimeError:", error)
print("А так работает:", demo_layer(torch.from_numpy(np.ones((1, 2))).float()).shape)

# %% [markdown]
# Поэтому данные из NumPy мы будем явно переводить в `float32`.
#
# ### 1.3. Для самостоятельного изучения: основные операции с тензорами
#
# Арифметика поэлементная, `@` — матричное умножение, как в NumPy.

# %%
mat = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
vec = torch.tensor([10.0, 20.0])
print("mat * mat (поэлементно):", (mat * mat).tolist())
print("mat @ mat (матрично):   ", (mat @ mat).tolist())
print("mat @ vec:              ", (mat @ vec).tolist())
print("mat.T:                  ", mat.T.tolist())
print("exp, sqrt:              ", mat.exp().double().round(decimals=2).tolist(), mat.sqrt().double().round(decimals=3).tolist())
print("torch.where(mat > 2, mat, 0):", torch.where(mat > 2, mat, 0.0).tolist())
print("cat по dim=0:", tuple(torch.cat([mat, mat], dim=0).shape), "| stack:", tuple(torch.stack([mat, mat]).shape))
mat_np = mat.numpy()
print("Совпадает с NumPy:", np.allclose((mat @ mat).numpy(), mat_np @ mat_np)
      and np.allclose((mat @ vec).numpy(), mat_np @ vec.numpy()))

# %% [markdown]
# ### 1.4. Broadcasting
#
# Правила **broadcasting** (как в NumPy, см. [PyTorch Broadcasting
# semantics](https://pytorch.org/docs/stable/notes/broadcasting.html)):
#
# 1. формы выравниваются **по правому краю**; недостающие слева измерения равны 1;
# 2. в каждой позиции размеры **равны** или один из них **равен 1** (иначе — ошибка);
# 3. измерение размера 1 «растягивается» до размера другого без копирования данных.
#
# #### Для самостоятельного изучения: правила кодом
#
# Запишем правила кодом и сверим с самим PyTorch (`torch.broadcast_shapes`).


# %%
def broadcast_shape(shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> tuple[int, ...]:
    """Форма результата операции над тензорами форм shape_a и shape_b по правилам broadcasting.

    Бросает ValueError, если формы несовместимы.
    """
    ndim = max(len(shape_a), len(shape_b))
    padded_a = (1,) * (ndim - len(shape_a)) + tuple(shape_a)  # правило 1
    padded_b = (1,) * (ndim - len(shape_b)) + tuple(shape_b)
    result = []
    for size_a, size_b in zip(padded_a, padded_b, strict=True):
        if size_a != size_b and 1 not in (size_a, size_b):  # правило 2
            raise ValueError(f"формы {shape_a} и {shape_b} несовместимы")
        result.append(size_a if size_b == 1 else size_b)  # правило 3 (верно и для размера 0)
    return tuple(result)


shape_pairs = [((3, 1), (1, 4)), ((2, 3), (3,)), ((5, 1, 4), (3, 1)), ((4,), ()), ((2, 3), (2,))]
for shape_a, shape_b in shape_pairs:
    try:
        ours = broadcast_shape(shape_a, shape_b)
    except ValueError:
        ours = "ошибка"
    try:
        theirs = tuple(torch.broadcast_shapes(shape_a, shape_b))
    except RuntimeError:
        theirs = "ошибка"
    print(f"{shape_a!s:10} и {shape_b!s:7} -> наш ответ: {ours!s:10} PyTorch: {theirs!s:10} совпадает: {ours == theirs}")

# %% [markdown]
# #### Для самостоятельного изучения: примеры на настоящих тензорах
#
# **Вопрос.** Какой формы будет результат сложения тензоров форм `(3, 1)` и `(1, 4)`? А `(2, 3)` и
# `(3,)`? А `(2, 3)` и `(2,)`?
#
# Проверим ответы на настоящих тензорах. Последний пример падает; чтобы он заработал, нужно явно
# добавить измерение: `unsqueeze(1)` превращает форму `(2,)` в `(2, 1)`.

# %%
column = torch.tensor([[0.0], [10.0], [20.0]])  # (3, 1)
row = torch.tensor([[1.0, 2.0, 3.0, 4.0]])  # (1, 4)
print("(3, 1) + (1, 4) ->", tuple((column + row).shape))
print(column + row)
ones23 = torch.ones(2, 3)
print("(2, 3) + (3,)   ->", tuple((ones23 + torch.tensor([1.0, 2.0, 3.0])).shape))
try:
    ones23 + torch.tensor([1.0, 2.0])
except RuntimeError as error:
    print("(2, 3) + (2,)   -> RuntimeError:", error)
print("(2, 3) + (2, 1) ->", tuple((ones23 + torch.tensor([1.0, 2.0]).unsqueeze(1)).shape))

# %% [markdown]
# #### Ловушка: `(n, 1) - (n,)`
#
# **Вопрос.** У модели выход формы `(n, 1)`, метки — формы `(n,)`. Какой формы будет
# `scores - labels`?

# %%
scores_column = torch.zeros(4, 1)  # (n, 1): так выглядит выход nn.Linear(..., 1)
labels = torch.ones(4)  # (n,)
print("(4, 1) - (4,) ->", tuple((scores_column - labels).shape), "— молча получилась матрица n x n!")
print("(4,)   - (4,) ->", tuple((scores_column.squeeze(-1) - labels).shape))

# %% [markdown]
# Ошибки не будет, но функция потерь посчитает среднее по $n^2$ парам вместо $n$ объектов. Поэтому
# наша модель будет возвращать оценки формы `(n,)`, а функция потерь — проверять, что формы
# совпадают.
#
# ### 1.5. Autograd: первое знакомство
#
# Как это устроено внутри, разберём в части II.
#
# * **Вычислительный граф** (computational graph): если у тензора `requires_grad=True`, PyTorch
#   записывает операции с ним (результат помнит их в `grad_fn`). Тензор, созданный нами, — **лист** (leaf).
# * `loss.backward()` **прибавляет** $\partial\,\text{loss} / \partial p$ к `p.grad` каждого листа `p`
#   с `requires_grad=True`.
# * `.grad` **накапливается**, поэтому перед каждым шагом его обнуляют: `p.grad = None` (у модели
#   это делает для всех параметров сразу `zero_grad()`, раздел 5).
# * Шаг градиентного спуска делают внутри `with torch.no_grad():` (там операции в граф не
#   записываются). Без этого блока шаг на месте `w -= ...` даёт ошибку (ниже), а `w = w - lr * w.grad`
#   молча делает `w` нелистом: его `.grad` больше не заполнится.
#
# `detach`, `torch.autograd.grad` и `retain_graph` — в подразделе 1.6 для самостоятельного изучения.
#
# %%
w_demo = torch.tensor([1.0, -2.0], requires_grad=True)  # лист графа: «параметр»
x_demo = torch.tensor([3.0, 4.0])  # данные: градиент по ним не нужен
loss_demo = (w_demo @ x_demo) ** 2  # граф: w -> dot -> pow; loss_demo.grad_fn помнит pow
loss_demo.backward()
((w_demo @ x_demo) ** 2).backward()  # тот же L, новый граф
print("после двух backward: w.grad =", w_demo.grad.tolist(), "| 2 × формула 2 (w·x) x:", (4 * (w_demo @ x_demo) * x_demo).tolist())
w_demo.grad = None  # обнуляем градиент
((w_demo @ x_demo) ** 2).backward()
try:
    w_demo -= 0.01 * w_demo.grad
except RuntimeError as error:
    print("шаг без no_grad: RuntimeError:", error)
with torch.no_grad():
    w_demo -= 0.01 * w_demo.grad  # шаг градиентного спуска
print("шаг под no_grad: w =", [round(v, 4) for v in w_demo.tolist()])

# %% [markdown]
# ### 1.6. Для самостоятельного изучения: `detach`, `torch.autograd.grad`, `retain_graph`
#
# * После `backward()` граф освобождается; пройти его ещё раз можно, только если попросить
#   `backward(retain_graph=True)`.
# * `t.detach()` — тот же тензор (та же память), но отрезанный от вычислительного графа: градиент
#   через него не пойдёт. Нужен, например, перед `.numpy()`.
# * `torch.autograd.grad(loss, [p])` **возвращает** градиенты и не трогает `p.grad`;
#   `loss.backward()` ничего не возвращает, а прибавляет к `.grad`.

# %%
w_demo = torch.tensor([1.0, -2.0], requires_grad=True)  # снова тот же «параметр», что до шага
loss_demo = (w_demo @ x_demo) ** 2
loss_demo.backward(retain_graph=True)  # retain_graph: пройдём этот граф ещё раз
loss_demo.backward()
print("два backward по одному графу:", w_demo.grad.tolist())
try:
    loss_demo.backward()
except RuntimeError as error:
    print("третий backward без retain_graph: RuntimeError:", str(error).split(" (")[0])
w_demo.grad = None
(grad_w_demo,) = torch.autograd.grad((w_demo @ x_demo) ** 2, [w_demo])
print("torch.autograd.grad:", grad_w_demo.tolist(), "| w.grad не тронут:", w_demo.grad)
print("detach() отрезан от графа:", not w_demo.detach().requires_grad, "| та же память:",
      w_demo.detach().data_ptr() == w_demo.data_ptr())

# %% [markdown]
# ### 1.7. Для самостоятельного изучения: PyTorch и NumPy, сравнительная таблица
#
# | | NumPy | PyTorch |
# |---|---|---|
# | Основной объект | `np.ndarray` | `torch.Tensor` |
# | Автоматическое дифференцирование | нет | есть: `requires_grad=True`, `.backward()`, `.grad` |
# | Устройства | только CPU | CPU, GPU (`.to("cuda")`), Apple `mps`; `.device` |
# | Вещественный тип по умолчанию | `float64` | `float32` (`torch.get_default_dtype()`) |
# | Целый тип по умолчанию | `int64` (в NumPy 1.x под Windows — `int32`) | `int64` |
# | Ось редукции | `axis=`, `keepdims=` | `dim=`, `keepdim=` (`axis=` тоже понимается) |
# | `max`/`min` по оси | только значения; индексы — `argmax` | пара `(values, indices)` |
# | Среднее целых | работает | ошибка: нужен вещественный тип |
# | Размер | `a.shape` | `t.shape` или `t.size()`; `t.numel()` |
# | Копия | `a.copy()` | `t.clone()` |
# | Смена формы | `reshape` | `reshape`, `view` (без копии) |
# | Изменение на месте | `out=`, `+=` | методы с `_`: `add_`, `zero_`; `+=` |
# | Склейка | `np.concatenate` | `torch.cat` |
# | Обмен данными | — | `torch.from_numpy(a)`, `t.numpy()`: общая память |
# | Broadcasting | есть | есть, правила те же |

# %% [markdown]
# ### 1.8. Для самостоятельного изучения: форма, `reshape` и `view`
#
# `reshape` работает как в NumPy; `-1` означает «посчитай этот размер сам». У PyTorch есть ещё
# `view`.

# %%
numbers = torch.arange(12)
print("shape:", tuple(numbers.shape), "| size() == shape:", numbers.size() == numbers.shape)
print("reshape(3, 4):", tuple(numbers.reshape(3, 4).shape), "| view(2, -1):", tuple(numbers.view(2, -1).shape))
print("ndim:", numbers.view(3, 4).ndim, "| numel (число элементов):", numbers.numel())


# %% [markdown]
# **Вопрос.** `view` и `reshape` — это одно и то же? Что произойдёт с исходным тензором, если
# изменить элемент его `view`? И получится ли сделать `view` транспонированной матрицы?


# %%
def same_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Проверяет, что два тензора используют один и тот же буфер памяти (storage)."""
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


matrix = torch.arange(6).view(2, 3)
matrix_view = matrix.view(3, 2)
matrix_view[0, 0] = 100
print("matrix после изменения matrix_view[0, 0]:\n", matrix)
print("view делит память с исходным тензором:", same_memory(matrix, matrix_view))
print("matrix.is_contiguous():", matrix.is_contiguous(), "| matrix.T.is_contiguous():", matrix.T.is_contiguous())
try:
    matrix.T.view(6)
except RuntimeError as error:
    print("RuntimeError:", str(error).splitlines()[0][:100], "...")
flat = matrix.T.reshape(6)
print("matrix.T.reshape(6):", flat.tolist(), "| это копия:", not same_memory(matrix, flat))

# %% [markdown]
# `view` никогда не копирует данные: он лишь по-другому «читает» тот же буфер памяти, поэтому
# новая форма должна быть совместима с тем, как элементы уже лежат в памяти (шаги, strides).
# Проще всего это, когда тензор непрерывный (contiguous): элементы лежат подряд построчно.
# Транспонирование меняет только порядок чтения (шаги), тензор перестаёт быть непрерывным, и
# `view(6)` на нём падает. `reshape` сделает `view`, когда это
# возможно, а иначе — копию.
#
# ### 1.9. Для самостоятельного изучения: индексация
#
# Индексация такая же, как в NumPy: числа, срезы, булевы маски, списки индексов.

# %%
grid = torch.arange(12).view(3, 4)
grid_np = grid.numpy()
print(grid)
print("grid[1]            ->", grid[1].tolist())
print("grid[:, 2]         ->", grid[:, 2].tolist())
print("grid[-1, 1:3]      ->", grid[-1, 1:3].tolist())
print("grid[grid % 2 == 0] ->", grid[grid % 2 == 0].tolist())
print("grid[[0, 2]]       ->", grid[[0, 2]].tolist())
same_as_numpy = (
    np.array_equal(grid[:, 2].numpy(), grid_np[:, 2])
    and np.array_equal(grid[grid % 2 == 0].numpy(), grid_np[grid_np % 2 == 0])
    and np.array_equal(grid[[0, 2]].numpy(), grid_np[[0, 2]])
)
print("Совпадает с NumPy:", same_as_numpy)

# %% [markdown]
# ### 1.10. Для самостоятельного изучения: редукции, `dim` вместо `axis`
#
# Суммы, средние, максимумы по оси в PyTorch принимают аргумент `dim` (а `keepdim` вместо
# `keepdims`). Для совместимости понимается и `axis`.
#
# **Вопрос.** Что вернёт `grid.max(dim=1)`? А `grid.mean()` для целочисленного `grid`?

# %%
print("NumPy   grid_np.sum(axis=0)        ->", grid_np.sum(axis=0).tolist())
print("PyTorch grid.sum(dim=0)            ->", grid.sum(dim=0).tolist())
print("PyTorch grid.sum(axis=0)           ->", grid.sum(axis=0).tolist())
print("keepdim=True: shape", tuple(grid.sum(dim=1, keepdim=True).shape),
      "| NumPy keepdims=True: shape", grid_np.sum(axis=1, keepdims=True).shape)
row_max = grid.max(dim=1)
print("grid.max(dim=1) ->", row_max)
print("в NumPy это две функции:", grid_np.max(axis=1).tolist(), grid_np.argmax(axis=1).tolist())
try:
    grid.mean()
except RuntimeError as error:
    print("RuntimeError:", str(error).splitlines()[0])
print("grid.float().mean() ->", grid.float().mean().item(), "| NumPy:", grid_np.mean())

# %% [markdown]
# ### 1.11. Для самостоятельного изучения: операции «на месте» (in-place), суффикс `_`
#
# У многих методов есть версия с подчёркиванием на конце: `add_`, `mul_`, `zero_`… Она меняет сам
# тензор, а не создаёт новый. Оператор `+=` тоже работает на месте.
#
# **Вопрос.** Что напечатается в последней строке: изменится ли `alias`?

# %%
base = torch.zeros(3)
alias = base.view(3)  # тот же буфер памяти, что у base
shifted = base.add(1)  # новый тензор, base не меняется
print("после base.add(1):  base =", base.tolist(), "| shifted =", shifted.tolist())
base.add_(1)  # на месте
base += 1  # тоже на месте
print("после add_ и +=:    base =", base.tolist(), "| alias =", alias.tolist())

# %% [markdown]
# ### 1.12. Для самостоятельного изучения: `from_numpy` и `.numpy()`, общая память
#
# **Вопрос.** `torch.from_numpy(a)` и `torch.tensor(a)` оба делают тензор из массива. Есть ли
# между ними разница?

# %%
array = np.zeros(3, dtype=np.float32)
shared = torch.from_numpy(array)  # общая память с array
copied = torch.tensor(array)  # копия
array[0] = 7.0
print("array[0] = 7 ->  shared =", shared.tolist(), "| copied =", copied.tolist())
back = shared.numpy()  # снова общая память
shared[1] = -1.0
print("shared[1] = -1 -> array =", array.tolist(), "| back =", back.tolist())

# %% [markdown]
# `torch.from_numpy` и `.numpy()` не копируют данные (это быстро, но изменения видны с обеих
# сторон); `torch.tensor(...)` всегда копирует. `.numpy()` работает только для тензоров на CPU
# и без графа вычислений: иначе нужно `t.detach().cpu().numpy()`.

# %% [markdown]
# ## 2. Данные: make_moons
#
# Учебная задача бинарной классификации: две «луны» на плоскости, которые нельзя разделить прямой.
# Данные генерирует `sklearn.datasets.make_moons` с фиксированным `random_state`, так что у всех
# получается одна и та же выборка; `noise` — стандартное отклонение гауссова шума.
#
# Часть объектов выделяем в **отложенную выборку** (held-out, test): на ней проверяем, как
# модель работает на данных, которых не видела при обучении. Данные переводим в тензоры `float32`
# (тип весов наших слоёв), а метки — в $\{-1, +1\}$.
#
# **Вопрос.** `make_moons` выдаёт метки 0 и 1. Зачем нам переделывать их в $-1$ и $+1$? (Ответ —
# в разделе 4, где появится функция потерь.)

# %%
N_SAMPLES = 500
NOISE = 0.15
TEST_SIZE = 0.3

X_np, y_np = make_moons(n_samples=N_SAMPLES, noise=NOISE, random_state=SEED)
X_train_np, X_test_np, y_train_np, y_test_np = train_test_split(
    X_np, y_np, test_size=TEST_SIZE, random_state=SEED, stratify=y_np
)
print("make_moons:", X_np.shape, X_np.dtype, "| метки:", np.unique(y_np).tolist())

X_train = torch.tensor(X_train_np, dtype=torch.float32)  # (n_train, 2)
X_test = torch.tensor(X_test_np, dtype=torch.float32)  # (n_test, 2)
y_train = torch.tensor(2 * y_train_np - 1, dtype=torch.float32)  # (n_train,), значения -1 и +1
y_test = torch.tensor(2 * y_test_np - 1, dtype=torch.float32)  # (n_test,)

print(f"X_train {tuple(X_train.shape)} {X_train.dtype} | y_train {tuple(y_train.shape)} {y_train.dtype}")
print(f"X_test  {tuple(X_test.shape)} {X_test.dtype} | y_test  {tuple(y_test.shape)} {y_test.dtype}")
for part, labels_part in (("train", y_train), ("test", y_test)):
    values, counts = labels_part.unique(return_counts=True)
    print(f"{part}: " + ", ".join(f"объектов класса {v:+.0f}: {c}" for v, c in zip(values.tolist(), counts.tolist(), strict=True)))

# %%
fig, ax = plt.subplots(figsize=(5, 4))
for label, color in ((-1, "tab:blue"), (1, "tab:red")):
    train_mask, test_mask = y_train == label, y_test == label
    ax.scatter(X_train[train_mask, 0], X_train[train_mask, 1], s=12, c=color, label=f"train, класс {label:+d}")
    ax.scatter(X_test[test_mask, 0], X_test[test_mask, 1], s=24, c=color, marker="x", label=f"test, класс {label:+d}")
ax.set_title(f"make_moons: {len(X_train)} train + {len(X_test)} test, noise = {NOISE}")
ax.set_xlabel("$x_1$")
ax.set_ylabel("$x_2$")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 3. Модель MLP
#
# **Многослойный перцептрон** (multilayer perceptron, MLP) — чередование линейных слоёв
# $h \mapsto W h + b$ и поэлементных нелинейных **функций активации** (activation function).
# Наша сеть: $2 \to 100 \to 100 \to 1$,
#
# $$s(x) = W_3\,\sigma\big(W_2\,\sigma(W_1 x + b_1) + b_2\big) + b_3,$$
#
# где $\sigma$ — активация (по умолчанию ReLU: $\max(0, z)$). На выходе одно число — **оценка**
# (score) $s(x)$: её знак и есть предсказанный класс.
#
# В PyTorch модель — это наследник `nn.Module`: слои создаются в `__init__`, а вычисление
# описывается в `forward`. Формы записаны справа от каждого слоя ($n$ — число объектов).


# %%
class MLP(nn.Module):
    """Многослойный перцептрон 2 -> hidden -> hidden -> 1 для бинарной классификации.

    Возвращает оценки (scores) формы (n,); знак оценки — предсказанный класс (-1 или +1).
    """

    def __init__(self, activation: type[nn.Module] = nn.ReLU, hidden: int = 100) -> None:
        """Создаёт слои; activation — класс активации (nn.ReLU, nn.Sigmoid, nn.Identity)."""
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(2, hidden),  # (n, 2)      -> (n, hidden)
            activation(),  # (n, hidden) -> (n, hidden)
            nn.Linear(hidden, hidden),  # (n, hidden) -> (n, hidden)
            activation(),  # (n, hidden) -> (n, hidden)
            nn.Linear(hidden, 1),  # (n, hidden) -> (n, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Прямой проход: признаки x формы (n, 2) -> оценки формы (n,)."""
        return self.layers(x).squeeze(-1)  # (n, 1) -> (n,)


torch.manual_seed(SEED)
model = MLP()
print(model)

# %% [markdown]
# **Вопрос.** Сколько обучаемых параметров у этой сети? Посчитайте в уме.
#
# У слоя `nn.Linear(in, out)` матрица весов $W$ размера $\text{out} \times \text{in}$ и вектор
# сдвигов $b$ длины $\text{out}$, то есть $\text{in} \cdot \text{out} + \text{out}$ параметров. У активаций параметров нет. Итого:
#
# $$(2 \cdot 100 + 100) + (100 \cdot 100 + 100) + (100 \cdot 1 + 1) = 300 + 10\,100 + 101 = 10\,501.$$

# %%
n_params_by_hand = (2 * 100 + 100) + (100 * 100 + 100) + (100 * 1 + 1)
n_params = sum(p.numel() for p in model.parameters())
for name, param in model.named_parameters():
    print(f"{name:16} {tuple(param.shape)!s:12} {param.numel():6d}")
print(f"Всего параметров: {n_params} (по формуле: {n_params_by_hand})")
assert n_params == n_params_by_hand

# %% [markdown]
# #### Для самостоятельного изучения: формы после каждого слоя
#
# Пропустим через сеть 5 объектов и посмотрим, как меняется форма после каждого слоя.

# %%
hidden_state = X_train[:5]
print(f"{'вход':52} {tuple(hidden_state.shape)}")
for layer in model.layers:
    hidden_state = layer(hidden_state)
    print(f"{layer!s:52} {tuple(hidden_state.shape)}")
print(f"{'model(x): после squeeze(-1)':52} {tuple(model(X_train[:5]).shape)}")

# %% [markdown]
# ### 3.1. Для самостоятельного изучения: формула в коде и относительная ошибка
#
# **Вопрос.** Совпадает ли это с формулой $s(x) = W_3\,\sigma(W_2\,\sigma(W_1 x + b_1) + b_2) + b_3$?
# Соберём её вручную из весов слоёв. Векторы-объекты у нас — строки матрицы `x` формы `(n, 2)`,
# поэтому $W x + b$ в коде записывается как `x @ W.T + b`.
#
# Сравнивать числа будем по **относительной ошибке** $\lVert a - b \rVert / (\lVert a \rVert + \lVert b \rVert)$:
# она не зависит от масштаба; для `float32` «совпадает» означает примерно $10^{-7}$–$10^{-6}$.


# %%
def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Относительная ошибка ||a - b|| / max(||a|| + ||b||, 1e-12) для сравнения результатов."""
    a, b = a.detach().double(), b.detach().double()
    return ((a - b).norm() / (a.norm() + b.norm()).clamp_min(1e-12)).item()


first, second, third = model.layers[0], model.layers[2], model.layers[4]
with torch.no_grad():
    x_probe = X_train[:5]  # (5, 2)
    hidden_1 = torch.relu(x_probe @ first.weight.T + first.bias)  # (5, 100)
    hidden_2 = torch.relu(hidden_1 @ second.weight.T + second.bias)  # (5, 100)
    by_formula = (hidden_2 @ third.weight.T + third.bias).squeeze(-1)  # (5,)
    mlp_formula_rel_error = relative_error(by_formula, model(x_probe))
print(f"формула vs model(x): относительная ошибка {mlp_formula_rel_error:.2e}")

# %% [markdown]
# ### 3.2. Для самостоятельного изучения: `model(x)` и `model.forward(x)`, хуки
#
# Модель вызывают как функцию: `model(x)`, а не `model.forward(x)`.
#
# **Вопрос.** Результат одинаковый — так в чём разница?
#
# `model(x)` — это `nn.Module.__call__`: он вызывает `forward` и, кроме того, **хуки** (hooks) —
# функции, которые PyTorch и библиотеки вешают на модули (профилирование, отладка, некоторые
# виды регуляризации). Прямой вызов `forward` их пропускает. Проверим на своём хуке.


# %%
hook_calls: list[str] = []


def remember_call(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
    """Forward-хук: запоминает имя класса модуля, который был вызван."""
    hook_calls.append(type(module).__name__)


hook_handle = model.register_forward_hook(remember_call)
out_call = model(X_train[:5])
calls_after_call = len(hook_calls)
out_forward = model.forward(X_train[:5])
calls_after_forward = len(hook_calls) - calls_after_call
hook_handle.remove()
print(f"model(x):         вызовов хука: {calls_after_call}")
print(f"model.forward(x): вызовов хука: {calls_after_forward}")
print("Выходы совпадают:", torch.equal(out_call, out_forward))

# %% [markdown]
# ## 4. Функция потерь: SVM max-margin loss + L2
#
# Метки $y_i \in \{-1, +1\}$, оценка модели $s_i = s(x_i)$. Величина $y_i s_i$ — **отступ**
# (margin): он положителен, когда знак оценки верный, и тем больше, чем увереннее модель права.
# Это и есть ответ на вопрос из раздела 2: с метками $\pm 1$ одно произведение $y_i s_i$
# описывает оба класса.
#
# Функция потерь SVM (hinge loss, max-margin loss) штрафует объекты с отступом меньше 1:
#
# $$\ell(s_i, y_i) = \max(0,\ 1 - y_i s_i).$$
#
# Полная функция потерь — средний hinge loss плюс **L2-регуляризация** (штраф за большие веса)
# с коэффициентом $\alpha = 10^{-4}$ по **всем** параметрам $\theta$ сети. Регуляризация борется с
# **переобучением** (overfitting): модель подгоняется под шум обучающей выборки, ошибается на ней
# редко, а на отложенной выборке — заметно чаще.
#
# $$L(\theta) = \frac{1}{n} \sum_{i=1}^{n} \max(0,\ 1 - y_i s_i) \;+\; \alpha \sum_{j} \theta_j^2.$$

# %%
ALPHA = 1e-4


def hinge_loss(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Средний hinge loss: mean(max(0, 1 - y * s)); scores и y формы (n,), y из {-1, +1}."""
    if scores.shape != y.shape:
        raise ValueError(f"формы scores {tuple(scores.shape)} и y {tuple(y.shape)} должны совпадать")
    return torch.relu(1 - y * scores).mean()


def l2_penalty(model: nn.Module, alpha: float = ALPHA) -> torch.Tensor:
    """L2-регуляризация: alpha * (сумма квадратов всех параметров модели)."""
    return alpha * torch.stack([(p**2).sum() for p in model.parameters()]).sum()


# %% [markdown]
# **Вопрос.** Какие объекты дают вклад в hinge loss — только те, что классифицированы неверно?
#
# На графике: hinge loss — выпуклая верхняя оценка «ошибки 0–1»; он равен нулю, только когда отступ
# $\ge 1$, так что объекты с отступом от 0 до 1 классифицированы верно, но вклад дают.

# %%
margin_grid = torch.linspace(-2, 3, 501)
fig, ax = plt.subplots(figsize=(5, 4))
ax.plot(margin_grid, torch.relu(1 - margin_grid), label=r"hinge: $\max(0, 1 - ys)$")
ax.plot(margin_grid, (margin_grid <= 0).float(), label=r"ошибка 0–1: $[ys \leq 0]$")
ax.set_title("Hinge loss как функция отступа")
ax.set_xlabel("отступ $y s$")
ax.set_ylabel("потеря")
ax.legend()
plt.show()

# %% [markdown]
# ### 4.1. Для самостоятельного изучения: hinge loss руками и его градиент по оценкам
#
# Формула и код функции `hinge_loss` и `l2_penalty` выше:
#
# | формула | код |
# |---|---|
# | $\max(0,\ 1 - y_i s_i)$ | `torch.relu(1 - y * scores)` |
# | $\frac{1}{n}\sum_i$ | `.mean()` |
# | $\alpha \sum_j \theta_j^2$ | `alpha * sum((p ** 2).sum() for p in model.parameters())` |
#
# **Вопрос.** Оценки $s = (2,\ 0.5,\ -1,\ -3)$, метки $y = (+1,\ +1,\ +1,\ -1)$. Чему равен средний
# hinge loss? Какие объекты дают вклад?

# %%
example_scores = torch.tensor([2.0, 0.5, -1.0, -3.0])
example_y = torch.tensor([1.0, 1.0, 1.0, -1.0])
by_hand = np.mean([max(0.0, 1.0 - y_i * s_i) for s_i, y_i in zip(example_scores.tolist(), example_y.tolist(), strict=True)])
print("отступы y*s:         ", (example_y * example_scores).tolist())
print("потери по объектам:  ", torch.relu(1 - example_y * example_scores).tolist())
print(f"hinge_loss: {hinge_loss(example_scores, example_y).item():.4f} | вручную: {by_hand:.4f}")
try:
    hinge_loss(example_scores.unsqueeze(1), example_y)
except ValueError as error:
    print("Защита от broadcasting (n, 1) vs (n,):", error)

# %% [markdown]
# #### Для самостоятельного изучения: градиент hinge loss по оценкам
#
# **Вопрос.** Чему равна производная $L_{\text{hinge}} = \frac{1}{n}\sum_i \max(0, 1 - y_i s_i)$
# по оценке $s_i$?
#
# Каждое слагаемое зависит только от своего $s_i$; там, где $1 - y_i s_i > 0$, производная
# $\max(0, 1 - y_i s_i)$ равна $-y_i$, а где отступ больше 1 — нулю:
#
# $$\frac{\partial L_{\text{hinge}}}{\partial s_i} = -\frac{y_i}{n}\,[\,y_i s_i < 1\,].$$
#
# (В точке излома $y_i s_i = 1$ производной нет; PyTorch, как и мы, берёт там 0.)
#
# #### Для самостоятельного изучения: проверка формулы
#
# Проверим формулу двумя независимыми способами на случайных оценках: автоматическим
# дифференцированием (раздел 1.5) и **конечными разностями** (finite differences) — производную
# по $s_i$ приближаем отношением $\frac{L(s + h e_i) - L(s - h e_i)}{2h}$ при малом $h$, где $e_i$ —
# $i$-й единичный вектор (подробнее — в разделе 1 части II). Сравниваем по относительной ошибке
# (раздел 3.1).


# %%
def hinge_loss_grad(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Аналитический градиент среднего hinge loss по оценкам: -y_i / n * [y_i s_i < 1]."""
    return -y * (y * scores < 1).to(scores.dtype) / len(y)


def finite_difference_grad(
    func: Callable[[torch.Tensor], torch.Tensor], point: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """Градиент скалярной функции func в точке point центральными разностями (в float64)."""
    point = point.detach().double()
    grad = torch.empty_like(point)
    for i in range(point.numel()):
        step = torch.zeros_like(point)
        step.view(-1)[i] = eps
        grad.view(-1)[i] = (func(point + step) - func(point - step)) / (2 * eps)
    return grad


probe_scores = 2 * torch.randn(len(y_train), generator=torch.Generator().manual_seed(SEED))
scores_leaf = probe_scores.clone().requires_grad_()
hinge_loss(scores_leaf, y_train).backward()
grad_autograd = scores_leaf.grad
grad_formula = hinge_loss_grad(probe_scores, y_train)
grad_numeric = finite_difference_grad(lambda s: hinge_loss(s, y_train.double()), probe_scores)
hinge_grad_rel_error = relative_error(grad_formula, grad_autograd)
hinge_grad_fd_rel_error = relative_error(grad_formula, grad_numeric)
print(f"объектов с ненулевым градиентом: {int((grad_formula != 0).sum())} из {len(y_train)}")
print(f"формула vs autograd:           относительная ошибка {hinge_grad_rel_error:.2e}")
print(f"формула vs конечные разности:  относительная ошибка {hinge_grad_fd_rel_error:.2e}")

# %% [markdown]
# ### 4.2. Для самостоятельного изучения: градиент L2-регуляризации
#
# $\dfrac{\partial}{\partial \theta_j}\, \alpha \sum_k \theta_k^2 = 2 \alpha \theta_j$: регуляризация
# тянет каждый вес к нулю пропорционально его величине. На шаге градиентного спуска с шагом $\eta$
# она умножает каждый вес на $(1 - 2\eta\alpha)$, поэтому её называют ещё **затуханием весов**
# (weight decay).
# Проверим на параметрах нашей сети.

# %%
model.zero_grad()
l2_penalty(model).backward()
l2_grad_rel_error = max(relative_error(p.grad, 2 * ALPHA * p.detach()) for p in model.parameters())
model.zero_grad()
print(f"L2-штраф при инициализации: {l2_penalty(model).item():.5f}")
print(f"2 * alpha * theta vs autograd: максимальная относительная ошибка {l2_grad_rel_error:.2e}")

# %% [markdown]
# ## 5. Обучение: SGD своими руками
#
# **Стохастический градиентный спуск** (stochastic gradient descent, SGD): на каждом шаге берём
# случайный **мини-батч** (mini-batch) объектов $B$, считаем на нём функцию потерь и сдвигаем
# параметры против градиента с **шагом обучения** (learning rate) $\eta$:
#
# $$\theta \leftarrow \theta - \eta\, \nabla_\theta \Big(\frac{1}{|B|}\sum_{i \in B} \max(0,\ 1 - y_i s_i) + \alpha \sum_j \theta_j^2\Big).$$
#
# Один проход по всей обучающей выборке называется **эпохой** (epoch). Оптимизаторы из
# `torch.optim` делают ровно это (и больше), но здесь мы пишем шаг сами.
#
# Функция `train` длинная из-за истории и индикатора прогресса; на занятии смотрим только на
# четыре строки внутри цикла по батчам: `loss = ...` (прямой проход), `model.zero_grad()` (`backward`
# **прибавляет** градиент к `.grad`, раздел 1.5), `loss.backward()` и `sgd_step(model, lr)`.

# %%
N_EPOCHS = 60
LEARNING_RATE = 0.5
BATCH_SIZE = 32


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Доля объектов, у которых знак оценки модели совпадает с меткой из {-1, +1}."""
    with torch.no_grad():
        return (torch.sign(model(X)) == y).float().mean().item()


def sgd_step(model: nn.Module, lr: float) -> None:
    """Один шаг SGD на месте: theta <- theta - lr * grad (вне графа вычислений)."""
    with torch.no_grad():
        for param in model.parameters():
            param -= lr * param.grad


def train(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    n_epochs: int = N_EPOCHS,
    lr: float = LEARNING_RATE,
    batch_size: int = BATCH_SIZE,
    alpha: float = ALPHA,
    seed: int = SEED,
    X_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    desc: str = "обучение",
) -> dict[str, list[float]]:
    """Обучает модель мини-батчевым SGD на hinge loss + L2-регуляризации.

    Возвращает историю по эпохам: "loss" (средняя потеря на батчах эпохи), "train_acc" и, если
    передана отложенная выборка (X_val, y_val), "val_acc".
    """
    generator = torch.Generator().manual_seed(seed)  # свой генератор: порядок батчей воспроизводим
    history: dict[str, list[float]] = {"loss": [], "train_acc": [], "val_acc": []}
    n = len(X)
    progress = tqdm(range(n_epochs), desc=desc, mininterval=0.5)
    for _ in progress:
        order = torch.randperm(n, generator=generator)
        loss_sum = 0.0
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            loss = hinge_loss(model(X[batch]), y[batch]) + l2_penalty(model, alpha)
            model.zero_grad()  # обнуляем (точнее, удаляем) градиенты прошлого шага
            loss.backward()  # заполняем param.grad
            sgd_step(model, lr)
            loss_sum += loss.item() * len(batch)
        history["loss"].append(loss_sum / n)
        history["train_acc"].append(accuracy(model, X, y))
        if X_val is not None and y_val is not None:
            history["val_acc"].append(accuracy(model, X_val, y_val))
        progress.set_postfix(loss=f"{history['loss'][-1]:.3f}", refresh=False)
    return history


# %%
torch.manual_seed(SEED)
model = MLP(nn.ReLU)
history = train(model, X_train, y_train, X_val=X_test, y_val=y_test, desc="MLP ReLU")
train_acc = accuracy(model, X_train, y_train)
test_acc = accuracy(model, X_test, y_test)
print(f"Доля правильных ответов (accuracy): train {train_acc:.3f}, test {test_acc:.3f}")

epochs = np.arange(1, N_EPOCHS + 1)
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4))
ax_loss.plot(epochs, history["loss"])
ax_loss.set_title("Функция потерь (hinge + L2) по эпохам")
ax_loss.set_xlabel("эпоха")
ax_loss.set_ylabel("средняя потеря на батчах")
ax_loss.set_yscale("log")
ax_acc.plot(epochs, history["train_acc"], label="train")
ax_acc.plot(epochs, history["val_acc"], label="test")
ax_acc.set_title("Доля правильных ответов (accuracy) по эпохам")
ax_acc.set_xlabel("эпоха")
ax_acc.set_ylabel("accuracy")
ax_acc.legend()
plt.show()

# %% [markdown]
# Кривые «шумят»: градиент по случайному батчу из 32 объектов — лишь оценка градиента по всей выборке.

# %% [markdown]
# **Вопрос.** Как, по-вашему, выглядит граница, которую провела сеть? Нарисуем знак оценки
# $s(x)$ на сетке: граница — линия $s(x) = 0$. Рисуют `plot_decision_boundary(ax, score_fn, X, y, title)`
# и `torch_score_fn(model)`; их код на занятии не разбираем.
#
# #### Для самостоятельного изучения: как рисуется граница


# %%
def torch_score_fn(model: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """Оборачивает модель PyTorch в функцию numpy (m, 2) -> numpy (m,) для рисования."""

    def scores(points: np.ndarray) -> np.ndarray:
        """Оценки модели для массива точек points формы (m, 2)."""
        with torch.no_grad():
            return model(torch.from_numpy(points.astype(np.float32))).numpy()

    return scores


def plot_decision_boundary(
    ax: plt.Axes, score_fn: Callable[[np.ndarray], np.ndarray], X: torch.Tensor, y: torch.Tensor, title: str
) -> None:
    """Рисует на ax области классов (знак score_fn), границу score = 0 и точки (X, y)."""
    x_min, y_min = X.min(dim=0).values.tolist()
    x_max, y_max = X.max(dim=0).values.tolist()
    grid_x, grid_y = np.meshgrid(np.linspace(x_min - 0.5, x_max + 0.5, 150), np.linspace(y_min - 0.5, y_max + 0.5, 150))
    grid_scores = score_fn(np.c_[grid_x.ravel(), grid_y.ravel()]).reshape(grid_x.shape)
    ax.contourf(grid_x, grid_y, grid_scores, levels=[-np.inf, 0, np.inf], colors=["tab:blue", "tab:red"], alpha=0.2)
    ax.contour(grid_x, grid_y, grid_scores, levels=[0], colors="black", linewidths=1)
    for label, color in ((-1, "tab:blue"), (1, "tab:red")):
        mask = y == label
        ax.scatter(X[mask, 0], X[mask, 1], s=10, c=color, label=f"класс {label:+d}")
    ax.plot([], [], color="black", linewidth=1, label="граница $s(x) = 0$")
    ax.set_title(title)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(fontsize=8, loc="lower left")


# %% [markdown]
# #### Граница MLP с ReLU

# %%
fig, ax = plt.subplots(figsize=(5, 4))
plot_decision_boundary(ax, torch_score_fn(model), X_test, y_test, f"MLP ReLU на test: accuracy {test_acc:.3f}")
plt.show()

# %% [markdown]
# ## 6. Роль нелинейностей: ReLU, Sigmoid, Identity
#
# Обучим ту же сеть с тремя активациями, ничего больше не меняя (те же инициализация, порядок
# батчей, шаг и число эпох):
#
# * ReLU: $\max(0, z)$;
# * Sigmoid: $\sigma(z) = 1 / (1 + e^{-z})$;
# * Identity: $z$, то есть нелинейности нет вовсе.
#
# **Вопрос.** Как, по-вашему, будут выглядеть три разделяющие границы?

# %%
mlps = {"ReLU": model}  # сеть с ReLU уже обучена в разделе 5 ровно так же
mlp_histories = {"ReLU": history}
for activation in (nn.Sigmoid, nn.Identity):
    torch.manual_seed(SEED)
    net = MLP(activation)
    mlp_histories[activation.__name__] = train(
        net, X_train, y_train, X_val=X_test, y_val=y_test, desc=f"MLP {activation.__name__}"
    )
    mlps[activation.__name__] = net


def print_results(results: dict[str, dict[str, float]]) -> None:
    """Печатает таблицу: модель, accuracy на train и на test."""
    print(f"{'модель':24} {'train':>6} {'test':>6}")
    for name, accs in results.items():
        print(f"{name:24} {accs['train']:6.3f} {accs['test']:6.3f}")


results = {
    f"MLP {name}": {"train": accuracy(net, X_train, y_train), "test": accuracy(net, X_test, y_test)}
    for name, net in mlps.items()
}
print_results(results)

fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (name, net) in zip(axes, mlps.items(), strict=True):
    plot_decision_boundary(ax, torch_score_fn(net), X_test, y_test, f"MLP {name}: test {results[f'MLP {name}']['test']:.3f}")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 6.1. Почему Identity — это линейная модель
#
# Без нелинейности слои просто перемножаются, и сеть с Identity — **в точности** линейная модель
# $Wx + b$, сколько бы слоёв в ней ни было. Именно нелинейность позволяет сети изгибать границу.
#
# #### Для самостоятельного изучения: вывод и проверка кодом
#
# $$s(x) = W_3\big(W_2(W_1 x + b_1) + b_2\big) + b_3 = \underbrace{W_3 W_2 W_1}_{W:\ 1 \times 2}\, x
# + \underbrace{W_3 W_2 b_1 + W_3 b_2 + b_3}_{b}.$$
#
# Для ReLU такая свёртка не работает. Свернём слои в одну матрицу $W$ и сдвиг $b$ и сравним $W x + b$ с выходом сети.


# %%
def compose_linear(model: MLP) -> tuple[torch.Tensor, torch.Tensor]:
    """Перемножает линейные слои MLP, пропуская активации: возвращает W (1, 2) и b (1,).

    Результат W x + b совпадает с сетью, только если активации — nn.Identity.
    """
    weight = torch.eye(2)  # (2, 2): пока что тождественное отображение
    bias = torch.zeros(2)  # (2,)
    for layer in model.layers:
        if isinstance(layer, nn.Linear):
            weight = layer.weight @ weight  # (out, in) @ (in, 2) -> (out, 2)
            bias = layer.weight @ bias + layer.bias  # (out,)
    return weight.detach(), bias.detach()


collapse_max_diff = {}
for name in ("Identity", "ReLU"):
    weight, bias = compose_linear(mlps[name])
    with torch.no_grad():
        as_linear = X_test @ weight.T + bias  # (n, 2) @ (2, 1) + (1,) -> (n, 1)
        collapse_max_diff[name] = (as_linear.squeeze(-1) - mlps[name](X_test)).abs().max().item()
    weight_text = ", ".join(f"{w:+.3f}" for w in weight.squeeze(0).tolist())
    print(f"{name:8}: W = [{weight_text}], b = {bias.item():+.4f}; "
          f"max |W x + b - s(x)| = {collapse_max_diff[name]:.2e}")
identity_collapse_max_diff = collapse_max_diff["Identity"]

# %% [markdown]
# Для Identity расхождение — на уровне ошибок округления `float32`, для ReLU — нет.
#
# ### 6.2. Почему Sigmoid отстаёт: линейный режим и плато
#
# Пунктир — уровень, на котором закончила линейная модель (Identity): её средняя потеря за
# последние 10 эпох.

# %%
identity_final_loss = float(np.mean(mlp_histories["Identity"]["loss"][-10:]))
sigmoid_plateau_loss = float(np.median(mlp_histories["Sigmoid"]["loss"][20:]))  # эпохи 21–60
fig, ax = plt.subplots(figsize=(6, 4))
for name, hist in mlp_histories.items():
    ax.plot(epochs, hist["loss"], label=name)
ax.axhline(identity_final_loss, color="gray", linestyle="--", label=f"уровень Identity: {identity_final_loss:.3f}")
ax.set_title("Потери при одинаковом обучении")
ax.set_xlabel("эпоха")
ax.set_ylabel("средняя потеря на батчах")
ax.set_yscale("log")
ax.legend()
plt.show()
print(f"Sigmoid, эпохи 21–{N_EPOCHS}: медиана потери {sigmoid_plateau_loss:.3f}; "
      f"Identity, последние 10 эпох: {identity_final_loss:.3f}")

# %% [markdown]
# Напечатано выше: потеря сигмоидной сети стоит на **плато** почти на уровне линейной модели. Почему
# (линейный режим, а не насыщение) — в подразделе ниже (дома). В скрытых слоях обычно используют ReLU
# и её модификации (Leaky ReLU, GELU).
#
# #### Для самостоятельного изучения: измерения — насыщения почти нет, сеть почти линейна, больший шаг не спасает
#
# Возьмём свежую (необученную) сеть: какие значения $z$ приходят в сигмоиды и чему там равна
# $\sigma'(z)$?

# %%
torch.manual_seed(SEED)
fresh_sigmoid = MLP(nn.Sigmoid)  # та же инициализация, что у обученной выше сети
sigmoid_init_stats: dict[str, dict[str, float]] = {}
with torch.no_grad():
    hidden, linearized = X_train, X_train
    for number, index in enumerate((0, 2), start=1):  # два скрытых слоя: layers[0] и layers[2]
        pre = fresh_sigmoid.layers[index](hidden)  # z = W h + b, (n, 100)
        slope = torch.sigmoid(pre) * (1 - torch.sigmoid(pre))  # sigma'(z)
        sigmoid_init_stats[f"слой {number}"] = {
            "max_abs_z": pre.abs().max().item(), "min_slope": slope.min().item(), "mean_slope": slope.mean().item(),
            "share_abs_z_over_2": (pre.abs() > 2).float().mean().item(),  # там sigma'(z) < 0.105
        }
        hidden = torch.sigmoid(pre)
        linearized = 0.5 + fresh_sigmoid.layers[index](linearized) / 4  # sigma(z) ≈ 1/2 + z/4
    sigmoid_linearization_error = relative_error(fresh_sigmoid.layers[4](linearized).squeeze(-1), fresh_sigmoid(X_train))
for layer_name, stats in sigmoid_init_stats.items():
    print(f"{layer_name}: max |z| = {stats['max_abs_z']:.2f} (там sigma' = {stats['min_slope']:.3f}), "
          f"доля |z| > 2: {stats['share_abs_z_over_2']:.2%}, среднее sigma'(z) = {stats['mean_slope']:.3f} (максимум 0.25)")
print(f"сеть, где sigma(z) заменена на 1/2 + z/4: относительная ошибка оценок {sigmoid_linearization_error:.1e}")

# %% [markdown]
# Насыщения почти нет: отдельные входы первого слоя доходят до $|z| > 2$, где $\sigma'$ уже заметно
# меньше $\tfrac14$ (максимум $|z|$ и $\sigma'$ там напечатаны выше), но таких входов доли процента, и
# среднее $\sigma'(z)$ почти равно максимуму $\tfrac14$. Зато при
# малых $z$ сигмоида почти прямая: $\sigma(z) \approx \tfrac12 + \tfrac z4$ (ряд Тейлора в нуле), и
# сеть с такой заменой даёт почти те же оценки (к тому же выходы сигмоид не центрированы: около 0.5).
# Значит, в начале обучения сигмоидная сеть — это
# почти **линейная модель**. Градиентный спуск сначала находит лучшую линейную модель и
# останавливается на её плато; чтобы граница изогнулась, веса должны вырасти настолько, чтобы $z$
# попали на изогнутую часть сигмоиды, а градиент на плато мал, и это долго.
#
# Но может быть, дело всё-таки в малом градиенте? Сравним нормы градиента у свежих сетей с ReLU и
# Sigmoid: по каждой матрице весов и по всем параметрам сразу. Отношение у разных слоёв разное, а шаг
# обучения один на всю сеть: **умножим шаг** сигмоидной сети на отношение для весов первого слоя
# (у остальных матриц весов и у всего вектора параметров оно того же порядка — см. печать).

# %%
first_layer_grad_norm = {}
grad_norms: dict[str, dict[str, float]] = {}  # активация -> {часть сети: норма градиента при инициализации}
for activation in (nn.ReLU, nn.Sigmoid):
    torch.manual_seed(SEED)
    fresh = MLP(activation)
    hinge_loss(fresh(X_train), y_train).backward()
    grad_norms[activation.__name__] = {f"W{n}": fresh.layers[i].weight.grad.norm().item() for n, i in ((1, 0), (2, 2), (3, 4))}
    grad_norms[activation.__name__]["все параметры"] = torch.cat([p.grad.flatten() for p in fresh.parameters()]).norm().item()
    first_layer_grad_norm[activation.__name__] = grad_norms[activation.__name__]["W1"]
grad_norm_ratio = {part: grad_norms["ReLU"][part] / grad_norms["Sigmoid"][part] for part in grad_norms["ReLU"]}
for part, ratio in grad_norm_ratio.items():
    print(f"{part:14}: ||grad|| ReLU {grad_norms['ReLU'][part]:.2e}, Sigmoid {grad_norms['Sigmoid'][part]:.2e}, "
          f"отношение {ratio:.1f}")
lr_factor = round(first_layer_grad_norm["ReLU"] / first_layer_grad_norm["Sigmoid"])
print(f"шаг обучения сигмоидной сети умножаем на {lr_factor} (отношение для W1)")

# %%
SIGMOID_COMPENSATED_EPOCHS = 200
torch.manual_seed(SEED)
sigmoid_compensated = MLP(nn.Sigmoid)
sigmoid_compensated_history = train(
    sigmoid_compensated, X_train, y_train, n_epochs=SIGMOID_COMPENSATED_EPOCHS, lr=lr_factor * LEARNING_RATE,
    X_val=X_test, y_val=y_test, desc=f"MLP Sigmoid, шаг x{lr_factor}",
)


def first_epoch_reaching(history: dict[str, list[float]], level: float = 0.95) -> int | None:
    """Номер первой эпохи (с 1), на которой доля правильных ответов на train >= level, или None."""
    return next((epoch for epoch, acc in enumerate(history["train_acc"], start=1) if acc >= level), None)


sigmoid_escape_epoch = first_epoch_reaching(sigmoid_compensated_history)
relu_escape_epoch = first_epoch_reaching(mlp_histories["ReLU"])
sigmoid_compensated_acc = {
    "train": accuracy(sigmoid_compensated, X_train, y_train), "test": accuracy(sigmoid_compensated, X_test, y_test)
}
print(f"accuracy на train впервые >= 0.95: Sigmoid с шагом x{lr_factor} — на эпохе {sigmoid_escape_epoch}, "
      f"ReLU с обычным шагом — на эпохе {relu_escape_epoch}")
print(f"Sigmoid с шагом x{lr_factor} после {SIGMOID_COMPENSATED_EPOCHS} эпох: "
      f"train {sigmoid_compensated_acc['train']:.3f}, test {sigmoid_compensated_acc['test']:.3f}")

# %%
fig, (ax_loss, ax_boundary) = plt.subplots(1, 2, figsize=(12, 4))
ax_loss.plot(np.arange(1, SIGMOID_COMPENSATED_EPOCHS + 1), sigmoid_compensated_history["loss"],
             label=f"Sigmoid, шаг x{lr_factor}")
ax_loss.plot(epochs, mlp_histories["Sigmoid"]["loss"], label="Sigmoid, обычный шаг")
ax_loss.plot(epochs, mlp_histories["ReLU"]["loss"], label="ReLU, обычный шаг")
ax_loss.axhline(identity_final_loss, color="gray", linestyle="--", label="уровень Identity (плато)")
ax_loss.set_title("Сигмоида: плато линейной модели, потом спуск")
ax_loss.set_xlabel("эпоха")
ax_loss.set_ylabel("средняя потеря на батчах")
ax_loss.set_yscale("log")
ax_loss.legend(fontsize=8)
plot_decision_boundary(
    ax_boundary, torch_score_fn(sigmoid_compensated), X_test, y_test,
    f"MLP Sigmoid, шаг x{lr_factor}, {SIGMOID_COMPENSATED_EPOCHS} эпох: test {sigmoid_compensated_acc['test']:.3f}",
)
fig.tight_layout()
plt.show()

# %% [markdown]
# Даже с шагом, увеличенным во столько раз, во сколько меньше градиент первого слоя, сигмоидной сети
# нужно во много раз больше эпох, чем ReLU (сравните номера эпох выше), и почти всё это время
# она стоит на плато линейной модели. Главная причина не в том, что $\sigma' \le \tfrac14$, а в том,
# что в начале обучения сигмоидная сеть работает в **линейном режиме**. Сигмоида нелинейна и в
# конце концов тоже изгибает границу. (Насыщение, $\sigma' \approx 0$ при больших $|z|$, —
# настоящая беда глубоких сетей с большими весами, но здесь оно затрагивает доли процента входов.)

# %% [markdown]
# ## 7. Сравнение с SVM
#
# Линейный **SVM** с $C = \frac{1}{2\alpha n}$ минимизирует hinge loss + L2 линейной модели — нашу потерю
# лишь приближённо: наш L2 штрафует все параметры, `LinearSVC` — веса и сдвиг (7.1). Нелинейную
# границу SVM строит **ядром**.
#
# **Вопрос.** Какой SVM похож на MLP с Identity, а какой — на MLP с ReLU?

# %%
svm_c = 1 / (2 * ALPHA * len(X_train))  # C = 1 / (2 alpha n): та же сила регуляризации, что у нас
print(f"C = 1 / (2 alpha n) = {svm_c:.2f}")
svms = {
    "LinearSVC": LinearSVC(C=svm_c, loss="hinge", max_iter=100_000, random_state=SEED),
    "SVC poly (d=3)": SVC(kernel="poly", degree=3, coef0=1.0, C=svm_c),
    "SVC rbf": SVC(kernel="rbf", C=svm_c),
}
for name, classifier in svms.items():
    classifier.fit(X_train.numpy(), y_train.numpy())
    results[name] = {
        "train": float(classifier.score(X_train.numpy(), y_train.numpy())),
        "test": float(classifier.score(X_test.numpy(), y_test.numpy())),
    }
print_results(results)

# %% [markdown]
# MLP с Identity и `LinearSVC` — линейные модели; ядровые SVM и MLP с ReLU — нет, но признаки SVM
# задаёт ядро, а MLP их **выучивает**.
#
# #### Для самостоятельного изучения: границы трёх SVM
#
# Ядро $k(x, z)$ — скалярное произведение в неявном пространстве признаков: полиномиальное
# $(\gamma\, x^\top z + c_0)^d$ или гауссово (RBF) $\exp(-\gamma \lVert x - z \rVert^2)$.

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (name, classifier) in zip(axes, svms.items(), strict=True):
    plot_decision_boundary(ax, classifier.decision_function, X_test, y_test, f"{name}: test {results[name]['test']:.3f}")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 7.1. Для самостоятельного изучения: отличия от нашей функции потерь, решение через опорные векторы
#
# Линейный SVM $s(x) = w^\top x + b$ минимизирует $\tfrac12 \lVert w \rVert^2 + C \sum_{i=1}^{n} \max(0,\ 1 - y_i s(x_i))$.
# Разделив на $Cn$, получаем hinge loss + L2 с $\alpha = \frac{1}{2Cn}$, поэтому мы берём не $C = 1$ по
# умолчанию, а $C = \frac{1}{2\alpha n}$. Это выравнивает силу регуляризации, но отличия остаются: наш L2-штраф действует
# на **все** параметры (сдвиги и скрытые слои тоже), а SVM штрафует только $w$ (`LinearSVC` из
# библиотеки liblinear — ещё и сдвиг $b$). Разница долей правильных ответов на test:

# %%
identity_vs_linear_svc = results["MLP Identity"]["test"] - results["LinearSVC"]["test"]
print(f"MLP Identity - LinearSVC (test): {identity_vs_linear_svc:+.3f}")
print(f"MLP ReLU     - SVC rbf   (test): {results['MLP ReLU']['test'] - results['SVC rbf']['test']:+.3f}")

# %% [markdown]
# Решение ядрового SVM имеет вид
#
# $$s(x) = \sum_{i \in SV} \beta_i\, k(x_i, x) + b,$$
#
# где сумма идёт по опорным векторам (support vectors), $\beta_i = \lambda_i y_i$, а $\lambda_i > 0$ —
# двойственные переменные (множители Лагранжа) задачи SVM. Задача SVM выпуклая: каждый её
# локальный минимум глобальный, и $w$ (в пространстве признаков ядра) определён однозначно, а вот
# сдвиг $b$ и двойственные коэффициенты — не обязательно.
#
# Проверим формулу решения для обоих ядер: соберём $s(x)$ сами из опорных векторов (`support_vectors_`),
# коэффициентов $\beta_i$ (`dual_coef_`) и сдвига (`intercept_`). По умолчанию `gamma="scale"`,
# то есть $\gamma = 1 / (d \cdot \operatorname{Var}(X))$, где $d$ — число признаков.

# %%
gamma = 1.0 / (X_train.shape[1] * X_train.numpy().var())
points = X_test.numpy()  # (n_test, 2)
kernel_by_hand = {
    "SVC poly (d=3)": lambda sv: (gamma * points @ sv.T + 1.0) ** 3,  # (n_test, n_sv)
    "SVC rbf": lambda sv: np.exp(-gamma * ((points[:, None, :] - sv[None, :, :]) ** 2).sum(axis=-1)),
}
svm_kernel_rel_error = {}
for name, kernel in kernel_by_hand.items():
    svm = svms[name]
    by_hand = kernel(svm.support_vectors_) @ svm.dual_coef_[0] + svm.intercept_[0]  # (n_test,)
    svm_kernel_rel_error[name] = relative_error(torch.from_numpy(by_hand), torch.from_numpy(svm.decision_function(points)))
    print(f"{name:15}: опорных векторов {len(svm.support_vectors_):3d} из {len(X_train)}; "
          f"s(x) вручную vs decision_function: относительная ошибка {svm_kernel_rel_error[name]:.2e}")

# %% [markdown]
# ## 8. Батчинг и эффективность
#
# Градиент средней потери можно посчитать **циклом** по объектам (`backward` прибавляет вклад
# каждого к `.grad`) или одним **батчем**. Результат одинаковый: **относительная ошибка** `relative_error(a, b)` $= \lVert a - b \rVert / (\lVert a \rVert + \lVert b \rVert)$
# порядка $10^{-7}$ — это округление `float32`.


# %%
def loss_and_grads_loop(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, list[torch.Tensor]]:
    """Hinge loss и его градиенты по параметрам: по одному объекту в цикле Python."""
    model.zero_grad()
    total = 0.0
    for i in range(len(X)):
        loss_i = hinge_loss(model(X[i : i + 1]), y[i : i + 1]) / len(X)  # (1, 2) -> (1,) -> скаляр
        loss_i.backward()  # градиент объекта i прибавляется к param.grad
        total += loss_i.item()
    return total, [param.grad.clone() for param in model.parameters()]


def loss_and_grads_batch(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, list[torch.Tensor]]:
    """Hinge loss и его градиенты по параметрам: один проход по всему батчу."""
    model.zero_grad()
    loss = hinge_loss(model(X), y)  # (n, 2) -> (n,) -> скаляр
    loss.backward()
    return loss.item(), [param.grad.clone() for param in model.parameters()]


torch.manual_seed(SEED)
bench_model = MLP()  # необученная сеть: у неё ненулевой вклад дают почти все объекты
loop_loss, loop_grads = loss_and_grads_loop(bench_model, X_train, y_train)
batch_loss, batch_grads = loss_and_grads_batch(bench_model, X_train, y_train)
batch_loss_abs_diff = abs(loop_loss - batch_loss)
batch_max_abs_diff = max((a - b).abs().max().item() for a, b in zip(loop_grads, batch_grads, strict=True))
batch_grad_rel_error = relative_error(  # по всем параметрам сразу, как по одному вектору
    torch.cat([g.flatten() for g in loop_grads]), torch.cat([g.flatten() for g in batch_grads])
)
assert batch_loss_abs_diff < 1e-5 and batch_grad_rel_error < 1e-5
print(f"loss: цикл {loop_loss:.6f}, батч {batch_loss:.6f}")
print(f"градиенты: max |цикл - батч| = {batch_max_abs_diff:.1e}, относительная ошибка {batch_grad_rel_error:.1e}")

# %% [markdown]
# **Вопрос.** Во сколько раз, по-вашему, батч из всех объектов обучающей выборки быстрее цикла?
#
# ### 8.1. Для самостоятельного изучения: как замерять время
#
# На занятии эту ячейку просто выполняем. Замеряем аккуратно: сначала «прогрев» (первый вызов медленнее: выделение памяти, ленивая
# инициализация), потом несколько повторов и **медиана** (она устойчива к случайным задержкам из-за
# других процессов). Быстрый батч ещё и повторяем несколько раз внутри одного замера, чтобы время
# было много больше разрешения таймера. Для серьёзных замеров в PyTorch есть
# `torch.utils.benchmark`, а здесь хватит `time.perf_counter`.


# %%
def median_seconds(func: Callable[[], object], repeats: int = 5, number: int = 1, warmup: int = 1) -> float:
    """Медианное время одного вызова func: warmup вызовов без замера, затем repeats замеров по number вызовов."""
    for _ in range(warmup):
        func()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            func()
        timings.append((time.perf_counter() - start) / number)
    return statistics.median(timings)


def cpu_name() -> str:
    """Название процессора: из /proc/cpuinfo в Linux, иначе то, что знает модуль platform."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


print(f"Процессор: {cpu_name()}; логических ядер: {os.cpu_count()}; потоков PyTorch: {torch.get_num_threads()}")

# %% [markdown]
# ### 8.2. Замер: цикл против батча
#
# Читаем ускорение на первых $n$ объектах (`median_seconds` — медиана замеров, 8.1; поток один).
# Числа — замер этого запуска: на загруженной машине ускорение меньше.

# %%
bench_sizes = [10, 30, 100, len(X_train)]  # при n = 1 цикл и батч делают одно и то же
loop_seconds, batch_seconds = [], []
for size in tqdm(bench_sizes, desc="замеры"):
    X_part, y_part = X_train[:size], y_train[:size]
    loop_seconds.append(median_seconds(partial(loss_and_grads_loop, bench_model, X_part, y_part), repeats=5))
    batch_seconds.append(median_seconds(partial(loss_and_grads_batch, bench_model, X_part, y_part), repeats=7, number=10))
speedups = [loop / batch for loop, batch in zip(loop_seconds, batch_seconds, strict=True)]
speedup = speedups[-1]
for size, loop, batch, ratio in zip(bench_sizes, loop_seconds, batch_seconds, speedups, strict=True):
    print(f"n = {size:4d}: цикл {loop * 1e3:8.2f} мс, батч {batch * 1e3:6.3f} мс, ускорение {ratio:6.1f}x")
print(f"\nБатч из {bench_sizes[-1]} объектов против цикла в этом запуске: ускорение {speedup:.0f}x "
      f"(при n = {bench_sizes[0]}: {speedups[0]:.1f}x)")

# %% [markdown]
# Цикл платит накладные расходы Python и autograd за каждый объект, батч — один раз. Правило:
# **не пишите циклов по объектам** — считайте над целым батчем.
#
# #### Для самостоятельного изучения: график и почему батч выигрывает

# %%
fig, (ax_time, ax_speedup) = plt.subplots(1, 2, figsize=(12, 4))
ax_time.loglog(bench_sizes, np.array(loop_seconds) * 1e3, "o-", label="цикл по объектам")
ax_time.loglog(bench_sizes, np.array(batch_seconds) * 1e3, "o-", label="один батч")
ax_time.set_title("Время прямого и обратного прохода")
ax_time.set_xlabel("число объектов n")
ax_time.set_ylabel("время, мс")
ax_time.legend()
ax_speedup.semilogx(bench_sizes, speedups, "o-", color="tab:green")
ax_speedup.set_title("Ускорение батча относительно цикла")
ax_speedup.set_xlabel("число объектов n")
ax_speedup.set_ylabel("время цикла / время батча")
plt.show()

# %% [markdown]
# **Почему батч выигрывает.** Цикл на каждом объекте платит **накладные расходы** (overhead):
# вызовы Python, маленькие тензоры, узлы графа autograd, запуск каждой операции — на крошечных
# тензорах `(1, 100)` это намного дороже самой арифметики. Батч платит их **один раз**, а арифметику
# делает одним матричным умножением `(n, 100) @ (100, 100)` с векторными инструкциями процессора.
# Поэтому время цикла растёт линейно с $n$, время батча растёт намного медленнее, и при больших $n$
# ускорение больше, чем при малых (на графике — числа этого запуска, с шумом замеров). На GPU разрыв ещё больше: параллельных вычислителей там тысячи.

# %% [markdown]
# ## 9. Резюме части I
#
# * Тензоры — массивы NumPy с градиентами; следите за формами (broadcasting).
# * Модель — наследник `nn.Module`; SGD — `zero_grad`, `backward`, шаг под `no_grad`.
# * Без нелинейности сеть — линейная модель; Sigmoid долго стоит на её плато.
# * Признаки ядровых SVM задаёт ядро, а MLP их выучивает.
# * Считайте батчами, а не циклом по объектам.
#
# #### Для самостоятельного изучения: итоговые числа этого запуска

# %%
print_results(results)
print(f"\nПараметров в MLP: {n_params}")
print(f"Ускорение батча на {bench_sizes[-1]} объектах в этом запуске: {speedup:.0f}x")

# %% [markdown]
# # Часть II. Autograd и backpropagation
#
# Градиенты появлялись «сами» после `loss.backward()`; теперь разберёмся, как.

# %% [markdown]
# ## 1. Мотивация: зачем нужно автоматическое дифференцирование
#
# Для шага градиентного спуска нужен градиент по **всем** параметрам. Выводить его руками долго и
# легко ошибиться. **Конечные разности** (finite differences),
# $\frac{\partial L}{\partial \theta_i} \approx \frac{L(\theta + h e_i) - L(\theta)}{h}$, просты, но требуют
# **прямого прохода на каждый параметр**. **Автоматическое дифференцирование** в обратном режиме
# (backpropagation) даёт градиент по всем параметрам за время порядка 2–3 прямых проходов.
# Сравним на MLP из части I в float64: там правые разности с шагом $h = 10^{-7}$ достаточно точны —
# относительная ошибка не больше порядка $10^{-7}$ (ошибка метода $\sim h$, округления $\sim 10^{-16}/h$;
# измеренную печатает ячейка), а изломы ReLU и hinge loss сдвиг на $h$ почти никогда не пересекает.

# %%
def full_loss(net: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Функция потерь из части I: hinge loss плюс L2-регуляризация всех параметров."""
    return hinge_loss(net(X), y) + l2_penalty(net)


net64 = copy.deepcopy(model).double()  # обученная в части I сеть, в float64
X64, y64 = X_train.double(), y_train.double()


def backward_gradient(net: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Градиент full_loss по всем параметрам одним forward + backward, вытянутый в вектор."""
    net.zero_grad()
    full_loss(net, X, y).backward()
    return torch.cat([p.grad.reshape(-1) for p in net.parameters()])


grad_backprop = backward_gradient(net64, X64, y64)
backward_seconds = median_seconds(lambda: backward_gradient(net64, X64, y64), repeats=21)  # медиана 21 замера
print(f"параметров у MLP из части I: {grad_backprop.numel()}; forward + backward: {1e3 * backward_seconds:.2f} мс")

# %% [markdown]
# **Вопрос.** Как вы думаете, во сколько раз дольше посчитать тот же градиент конечными разностями?
#
# Посчитаем производные по 300 параметрам первого слоя, замерим время и **оценим** (экстраполяция)
# время для всех параметров (их 10 501); полный расчёт — в подразделе для самостоятельного изучения ниже.

# %%
def finite_difference_param_grad(
    loss_fn: Callable[[], torch.Tensor], params: list[torch.Tensor], eps: float = 1e-7
) -> torch.Tensor:
    """Градиент loss_fn() по всем элементам params правыми разностями: один вызов loss_fn на элемент."""
    grads = []
    with torch.no_grad():
        base = loss_fn().item()
        for p in params:
            flat = p.view(-1)  # представление (view): меняя flat, меняем сам параметр
            for i in range(flat.numel()):
                old = flat[i].item()
                flat[i] = old + eps
                grads.append((loss_fn().item() - base) / eps)
                flat[i] = old
    return torch.tensor(grads, dtype=torch.float64)


first_layer_params = [net64.layers[0].weight, net64.layers[0].bias]  # первые 300 параметров в parameters()
start = time.perf_counter()
grad_numeric_sample = finite_difference_param_grad(lambda: full_loss(net64, X64, y64), first_layer_params)
fd_sample_seconds = time.perf_counter() - start
fd_sample_size = grad_numeric_sample.numel()
fd_sample_relative_error = relative_error(grad_numeric_sample, grad_backprop[:fd_sample_size])
fd_extrapolated_seconds = fd_sample_seconds * grad_backprop.numel() / fd_sample_size
fd_extrapolated_ratio = float(f"{fd_extrapolated_seconds / backward_seconds:.2g}")  # оценка: два значащих знака
print(f"конечные разности по {fd_sample_size} параметрам: {fd_sample_seconds:.2f} с (измерено); "
      f"относительная ошибка против backprop {fd_sample_relative_error:.1e}")
print(f"оценка (экстраполяция) для всех {grad_backprop.numel()} параметров: {fd_extrapolated_seconds:.1f} с — "
      f"примерно в {fd_extrapolated_ratio:,.0f} раз дольше одного backward".replace(",", " "))

# %% [markdown]
# Градиенты совпадают, но конечные разности медленнее на порядки, и разрыв растёт с числом
# параметров. Зато ими удобно **проверять** формулы градиентов.
#
# #### Для самостоятельного изучения: производные по всем 10 501 параметру
#
# Тот же расчёт по всем параметрам: 10 502 прямых прохода (один базовый и по одному на параметр).
# Ячейка работает примерно столько, сколько предсказала оценка выше (на загруженной машине — дольше);
# сколько именно — печатает она сама.

# %%
start = time.perf_counter()
grad_numeric = finite_difference_param_grad(lambda: full_loss(net64, X64, y64), list(net64.parameters()))
fd_seconds = time.perf_counter() - start
fd_relative_error = relative_error(grad_numeric, grad_backprop)
fd_speedup = float(f"{fd_seconds / backward_seconds:.2g}")  # два значащих знака
fd_speedup_text = f"{fd_speedup:,.0f}".replace(",", " ")
print(f"конечные разности по всем параметрам (их {grad_numeric.numel()}): {fd_seconds:.2f} с; "
      f"прямых проходов: {grad_numeric.numel() + 1}")
print(f"backprop по всем параметрам сразу: {1e3 * backward_seconds:.2f} мс, "
      f"то есть примерно в {fd_speedup_text} раз быстрее")
print(f"относительная ошибка между градиентами: {fd_relative_error:.1e}")
print(f"оценка по {fd_sample_size} параметрам была {fd_extrapolated_seconds:.1f} с, измерено {fd_seconds:.1f} с")

# %% [markdown]
# ## 2. Forward и backward pass
#
# Любое вычисление можно записать как **вычислительный граф** (computational graph): узлы —
# промежуточные величины, рёбра ведут от аргументов операции к её результату. Возьмём
#
# $$f(x, y, z) = (x + y)\cdot z,\qquad q = x + y,\quad f = q\cdot z,\qquad x = -2,\ y = 5,\ z = -4.$$
#
# * **Прямой проход** (forward pass) идёт от входов к выходу и **запоминает** промежуточные
#   значения: $q = 3$, $f = -12$.
# * **Обратный проход** (backward pass) идёт от выхода к входам. Каждый узел получает сверху
#   градиент $\frac{\partial f}{\partial \text{узел}}$ (upstream) и отдаёт вниз
#   **upstream × локальная производная** своей операции.
#
# **Вопрос.** Как вы думаете, чему равны $\frac{\partial f}{\partial x}$, $\frac{\partial f}{\partial y}$,
# $\frac{\partial f}{\partial z}$?

# %%
x_val, y_val, z_val = -2.0, 5.0, -4.0
# прямой проход: значения от входов к выходу
q_val = x_val + y_val
f_val = q_val * z_val
# обратный проход: градиенты от выхода к входам, upstream × локальная производная
df_df = 1.0
df_dq = df_df * z_val  # ∂(q·z)/∂q = z
df_dz = df_df * q_val  # ∂(q·z)/∂z = q
df_dx = df_dq * 1.0  # ∂(x + y)/∂x = 1
df_dy = df_dq * 1.0  # ∂(x + y)/∂y = 1
print(f"forward:  q = {q_val}, f = {f_val}")
print(f"backward: df/dx = {df_dx}, df/dy = {df_dy}, df/dz = {df_dz}")

# %% [markdown]
# Проверим то же самое в PyTorch: `backward()` делает ровно этот обратный проход.

# %%
xt, yt, zt = (torch.tensor(v, requires_grad=True) for v in (x_val, y_val, z_val))
ft = (xt + yt) * zt
ft.backward()
print(f"PyTorch:  f = {ft.item()}, df/dx = {xt.grad.item()}, df/dy = {yt.grad.item()}, df/dz = {zt.grad.item()}")

# %% [markdown]
# Заметьте две вещи, которые нам ещё пригодятся:
#
# * сложение **раздаёт** градиент: $x$ и $y$ получили ровно $\partial f/\partial q$;
# * умножение **меняет входы местами**: $\partial f/\partial z = q$, а $\partial f/\partial q = z$.
#
# Поэтому прямой проход обязан сохранить промежуточные значения: без $q$ не посчитать $\partial f/\partial z$.
#
# #### Для самостоятельного изучения: как рисуется граф
#
# Функция `draw_graph` принимает подписи узлов и рёбра «аргумент → результат»; она пригодится
# ещё раз в разделе 6. На занятии ячейку просто выполняем.

# %%
def draw_graph(
    labels: dict[str, str], edges: list[tuple[str, str]], ax: plt.Axes, title: str, *, backward: bool = False
) -> tuple[dict[str, Text], list[list[str]]]:
    """Рисует вычислительный граф слева направо: входы слева, выход справа.

    labels — подпись каждого узла, в топологическом порядке (аргументы раньше результатов);
    edges — пары (аргумент, результат). Стрелки идут по направлению прямого прохода (слева
    направо) или, при backward=True, обратного (справа налево). Ребро, которое перескакивает
    через колонки, проходит через невидимые промежуточные точки в своих строках этих колонок,
    поэтому не пересекает прямоугольники узлов; в каждой колонке узлы и точки упорядочены по
    средней строке их предшественников, чтобы рёбра пересекались реже. Если узлы колонки не
    помещаются по высоте, рисунок становится выше. Возвращает подписи узлов (объекты Text) и пути
    рёбер (списки имён: узел, промежуточные точки, узел) — по ним тесты проверяют рисунок.
    """
    inputs_of = {name: [src for src, dst in edges if dst == name] for name in labels}
    column: dict[str, int] = {}
    for name in labels:  # колонка узла = длина самого длинного пути от входов
        column[name] = 1 + max((column[src] for src in inputs_of[name]), default=-1)
    by_column: dict[int, list[str]] = {}
    for name in labels:
        by_column.setdefault(column[name], []).append(name)
    paths = []
    for src, dst in dict.fromkeys(edges):  # каждое ребро один раз, в исходном порядке
        waypoints = [f"{src}->{dst}@{col}" for col in range(column[src] + 1, column[dst])]
        for col, waypoint in zip(range(column[src] + 1, column[dst]), waypoints, strict=True):
            by_column[col].append(waypoint)  # строка под узлами этой колонки
        paths.append([src, *waypoints, dst])
    predecessors: dict[str, list[str]] = {}
    for path in paths:
        for before, after in pairwise(path):
            predecessors.setdefault(after, []).append(before)
    row_of: dict[str, int] = {}
    for col in sorted(by_column):  # порядок в колонке — по средней строке предшественников: меньше пересечений
        if col > 0:
            by_column[col].sort(key=lambda name: statistics.mean(row_of[before] for before in predecessors[name]))
        row_of.update({name: row for row, name in enumerate(by_column[col])})
    position = {}
    for col, names in by_column.items():
        for row, name in enumerate(names):
            position[name] = (col, (len(names) - 1) / 2 - row)
    for path in paths:
        points = [position[name] for name in (path[::-1] if backward else path)]
        for k, (start, end) in enumerate(pairwise(points)):
            last = k == len(points) - 2
            ax.annotate("", xy=end, xytext=start, arrowprops={
                "arrowstyle": "->" if last else "-", "color": "gray", "shrinkA": 28 if k == 0 else 0, "shrinkB": 28 if last else 0,
            })
    texts = {}
    for name, text in labels.items():
        color = "#cfe2ff" if not inputs_of[name] else "#ffe8a3"
        texts[name] = ax.text(*position[name], text, ha="center", va="center", fontsize=9,
                              bbox={"boxstyle": "round", "facecolor": color})
    height = max(len(names) for names in by_column.values())
    lines = max(text.count("\n") + 1 for text in labels.values())
    needed_inches = height * (0.25 * lines + 0.35) + 1.2  # строки узлов, заголовок и легенда
    if ax.figure.get_figheight() < needed_inches:  # иначе соседние узлы колонки налезут друг на друга
        ax.figure.set_figheight(needed_inches)
    ax.set_xlim(-0.6, max(by_column) + 0.6)
    ax.set_ylim(-height / 2 - 0.3, height / 2 + 0.3)
    ax.set_title(title)
    ax.axis("off")
    ax.legend(handles=[Patch(facecolor="#cfe2ff", label="вход (лист)"), Patch(facecolor="#ffe8a3", label="операция")],
              loc="lower right", fontsize=8)
    return texts, paths


# %% [markdown]
# #### Для самостоятельного изучения: граф $f = (x + y) \cdot z$, прямой и обратный проход
#
# Рисует функция `draw_graph(подписи, рёбра, ax, заголовок)` из подраздела выше.

# %%
edges_f = [("x", "q"), ("y", "q"), ("q", "f"), ("z", "f")]
forward_labels = {"x": f"x = {x_val:g}", "y": f"y = {y_val:g}", "z": f"z = {z_val:g}",
                  "q": f"q = x + y\n= {q_val:g}", "f": f"f = q · z\n= {f_val:g}"}
backward_labels = {"x": f"∂f/∂x = {df_dx:g}", "y": f"∂f/∂y = {df_dy:g}", "z": f"∂f/∂z = {df_dz:g}",
                   "q": f"∂f/∂q = {df_dq:g}", "f": f"∂f/∂f = {df_df:g}"}
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
draw_graph(forward_labels, edges_f, axes[0], "Forward: значения идут слева направо")
draw_graph(backward_labels, edges_f, axes[1], "Backward: градиенты идут справа налево", backward=True)
plt.show()

# %% [markdown]
# ## 3. Chain rule
#
# Обратный проход — это многократное применение **цепного правила** (chain rule),
# $\frac{dL}{dx} = \frac{dL}{dy}\cdot\frac{dy}{dx}$. Если $x$ влияет на $L$ по нескольким путям
# (через $y_1, \dots, y_m$), вклады путей **складываются**:
# $$\frac{\partial L}{\partial x} = \sum_{i=1}^{m} \frac{\partial L}{\partial y_i}\cdot\frac{\partial y_i}{\partial x}.$$
#
# **Пример с двумя путями:** $L = x\cdot\sigma(x)$ (это функция активации SiLU). Переменная $x$ входит
# и в первый множитель, и в сигмоиду, поэтому
# $$\frac{dL}{dx} = \underbrace{\sigma(x)}_{\text{путь через множитель}} + \underbrace{x\,\sigma(x)\,(1 - \sigma(x))}_{\text{путь через } \sigma}.$$
#
# **Вопрос.** Как вы думаете, что будет, если забыть один из путей?

# %%
x0 = 1.3
x_t = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
(x_t * torch.sigmoid(x_t)).backward()
s0 = 1 / (1 + math.exp(-x0))
both_paths = s0 + x0 * s0 * (1 - s0)
only_first = s0
print(f"оба пути: {both_paths:.12f}, autograd: {x_t.grad.item():.12f}, "
      f"отн. ошибка {abs(both_paths - x_t.grad.item()) / abs(both_paths):.1e}")
print(f"только первый путь: {only_first:.6f}, ошибка была бы {abs(only_first - x_t.grad.item()) / abs(both_paths):.0%}")

# %% [markdown]
# Векторная форма того же правила (якобиан, vector-Jacobian product) — в подразделе ниже (дома).
#
# #### Для самостоятельного изучения: векторная форма, якобиан и VJP; ещё два примера руками
#
# **Векторная форма.** Пусть $\mathbf{x} \in \mathbb{R}^n$, $\mathbf{y} = g(\mathbf{x}) \in \mathbb{R}^m$,
# $L = f(\mathbf{y})$ — скаляр. По скалярному правилу, просуммированному по всем путям $y_i$,
# $$\frac{\partial L}{\partial x_j} = \sum_{i=1}^{m} \frac{\partial L}{\partial y_i}\,\frac{\partial y_i}{\partial x_j},
# \qquad\text{то есть}\qquad \nabla_{\mathbf{x}} L = J^\top\,\nabla_{\mathbf{y}} L,\quad J_{ij} = \frac{\partial y_i}{\partial x_j}.$$
# Матрица $J$ размера $m\times n$ — **якобиан** (Jacobian). Backprop никогда не строит $J$ целиком:
# каждая операция умеет сразу считать произведение $J^\top \cdot \text{upstream}$
# (vector-Jacobian product, VJP). Пример для нейросети — линейный слой в разделе 4.4.
#
# **Пример руками:** $L = \sin(x^2)$. Обозначим $u = x^2$: $\frac{dL}{dx} = \cos(u)\cdot 2x = 2x\cos(x^2)$.

# %%
x0 = 1.3
x_t = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
torch.sin(x_t**2).backward()
by_hand = 2 * x0 * math.cos(x0**2)
print(f"руками: {by_hand:.12f}, autograd: {x_t.grad.item():.12f}, "
      f"отн. ошибка {abs(by_hand - x_t.grad.item()) / abs(by_hand):.1e}")

# %% [markdown]
# **Векторный пример:** $\mathbf{h} = \tanh(W\mathbf{x})$, $L = \sum_i h_i^2$, $W \in \mathbb{R}^{4\times 3}$.
# Тогда $\nabla_{\mathbf{h}} L = 2\mathbf{h}$, $J = \operatorname{diag}(1 - \mathbf{h}^2)\,W$ и
# $$\nabla_{\mathbf{x}} L = W^\top\big((1 - \mathbf{h}^2)\odot 2\mathbf{h}\big).$$

# %%
gen = torch.Generator().manual_seed(SEED)
W_c = torch.randn(4, 3, dtype=torch.float64, generator=gen)
x_c = torch.randn(3, dtype=torch.float64, generator=gen)

h_c = torch.tanh(W_c @ x_c)
jacobian_by_hand = torch.diag(1 - h_c**2) @ W_c
grad_by_hand = W_c.T @ ((1 - h_c**2) * 2 * h_c)

jacobian_autograd = torch.autograd.functional.jacobian(lambda v: torch.tanh(W_c @ v), x_c)
x_req = x_c.clone().requires_grad_(True)
(torch.tanh(W_c @ x_req) ** 2).sum().backward()
print(f"якобиан: форма {tuple(jacobian_autograd.shape)} = (m, n); "
      f"отн. ошибка {relative_error(jacobian_by_hand, jacobian_autograd):.1e}")
print(f"градиент: форма {tuple(x_req.grad.shape)} = форма x; "
      f"отн. ошибка {relative_error(grad_by_hand, x_req.grad):.1e}")

# %% [markdown]
# ## 4. Матричное дифференцирование
#
# ### 4.1. Обозначения и типы производных
#
# Одно соглашение до конца ноутбука: **градиент** скаляра $L$ имеет **форму своей переменной** —
# такой тензор PyTorch кладёт в `.grad`. (Якобианы, numerator layout и
# $\nabla_{\mathbf{x}} L := \left(\frac{\partial L}{\partial \mathbf{x}}\right)^\top$ — в подразделе ниже.)
#
# #### Для самостоятельного изучения: соглашения подробнее, таблица типов производных
#
# * **Градиент** скаляра $L$ по переменной имеет **форму этой переменной**: для $\mathbf{x}\in\mathbb{R}^n$
#   $\nabla_{\mathbf{x}} L \in \mathbb{R}^n$, для $X \in \mathbb{R}^{m\times n}$
#   $\nabla_X L \in \mathbb{R}^{m\times n}$ и $(\nabla_X L)_{ij} = \partial L / \partial X_{ij}$.
#   Именно такой тензор PyTorch кладёт в `.grad`.
# * **Якобиан** вектора $\mathbf{y}\in\mathbb{R}^m$ по $\mathbf{x}\in\mathbb{R}^n$ — матрица
#   $\frac{\partial \mathbf{y}}{\partial \mathbf{x}} \in \mathbb{R}^{m\times n}$,
#   $\left(\frac{\partial \mathbf{y}}{\partial \mathbf{x}}\right)_{ij} = \frac{\partial y_i}{\partial x_j}$:
#   строки нумеруются компонентами числителя (**numerator layout**). Так же устроен
#   `torch.autograd.functional.jacobian`.
#
# Якобианы — в numerator layout, а градиенты — формы своей переменной; для скаляра $L$ это
# согласуется так: его якобиан $\frac{\partial L}{\partial \mathbf{x}}$ — строка $1\times n$, а градиент —
# транспонированная строка, $\nabla_{\mathbf{x}} L := \left(\frac{\partial L}{\partial \mathbf{x}}\right)^\top$. Отсюда и
# $J^\top$ в цепном правиле раздела 3: $\nabla_{\mathbf{x}} L = \big(\frac{\partial L}{\partial \mathbf{y}} J\big)^\top = J^\top \nabla_{\mathbf{y}} L$.
#
# В справочниках встречается и обратное соглашение (denominator layout), где якобиан
# транспонирован; сверяясь с таблицами, сначала выясните, какое соглашение там принято.
#
# | что дифференцируем \ по чему | скаляр $x$ | вектор $\mathbf{x}\in\mathbb{R}^n$ | матрица $X\in\mathbb{R}^{m\times n}$ |
# |---|---|---|---|
# | скаляр $y$ | производная $\frac{dy}{dx}$: скаляр | градиент $\nabla_{\mathbf{x}} y$: $n$ | градиент $\nabla_X y$: $m\times n$ |
# | вектор $\mathbf{y}\in\mathbb{R}^p$ | вектор $\frac{d\mathbf{y}}{dx}$: $p$ | якобиан $\frac{\partial\mathbf{y}}{\partial\mathbf{x}}$: $p\times n$ | тензор $p\times m\times n$ (в backprop не строится) |
#
# Проверим формы на PyTorch.

# %%
gen = torch.Generator().manual_seed(SEED)
A_s = torch.randn(2, 3, dtype=torch.float64, generator=gen)
x_s = torch.randn(3, dtype=torch.float64, generator=gen)
X_s = torch.randn(2, 3, dtype=torch.float64, generator=gen, requires_grad=True)
print("якобиан y = A x, A: 2×3 ->", tuple(torch.autograd.functional.jacobian(lambda v: A_s @ v, x_s).shape))
(X_s**2).sum().backward()
print("градиент скаляра по X: 2×3 ->", tuple(X_s.grad.shape))

# %% [markdown]
# #### Для самостоятельного изучения: как мы проверяем формулы
#
# Каждую формулу ниже проверяем дважды в float64: против `torch.autograd` и против центральных
# конечных разностей (для градиентов — `finite_difference_grad` из части I, для якобианов —
# такая же функция по столбцам). Вспомогательные функции:

# %%
matrix_checks: dict[str, dict[str, float]] = {}


def numerical_jacobian(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Якобиан f: R^n → R^m центральными разностями, форма (m, n): столбец j — производная по x_j."""
    columns = []
    for j in range(x.numel()):
        step = torch.zeros_like(x)
        step[j] = eps
        columns.append((f(x + step) - f(x - step)) / (2 * eps))
    return torch.stack(columns, dim=1)


def report_check(name: str, formula: torch.Tensor, by_autograd: torch.Tensor, by_numbers: torch.Tensor) -> None:
    """Печатает относительные ошибки формулы и сохраняет их в matrix_checks."""
    if formula.shape != by_autograd.shape:
        raise ValueError(f"{name}: форма формулы {tuple(formula.shape)}, а должна быть {tuple(by_autograd.shape)}")
    errors = {"autograd": relative_error(formula, by_autograd), "finite_diff": relative_error(formula, by_numbers)}
    matrix_checks[name] = errors
    print(f"{name:<28} форма {tuple(formula.shape)!s:<8} отн. ошибка: "
          f"vs autograd {errors['autograd']:.1e}, vs конечные разности {errors['finite_diff']:.1e}")


def check_gradient(name: str, f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, formula: torch.Tensor) -> None:
    """Сверяет градиент скалярной f по x, найденный по формуле, с autograd и конечными разностями."""
    point = x.detach().clone().requires_grad_(True)
    (by_autograd,) = torch.autograd.grad(f(point), point)
    report_check(name, formula, by_autograd, finite_difference_grad(f, x))


def check_jacobian(name: str, f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, formula: torch.Tensor) -> None:
    """Сверяет якобиан f по x, найденный по формуле, с autograd и конечными разностями."""
    by_autograd = torch.autograd.functional.jacobian(f, x)
    report_check(name, formula, by_autograd, numerical_jacobian(f, x))


n, m = 4, 3
a_v = torch.randn(n, dtype=torch.float64, generator=gen)
x_v = torch.randn(n, dtype=torch.float64, generator=gen)
A_sq = torch.randn(n, n, dtype=torch.float64, generator=gen)  # квадратная и НЕ симметричная
A_mn = torch.randn(m, n, dtype=torch.float64, generator=gen)
b_m = torch.randn(m, dtype=torch.float64, generator=gen)
u_m = torch.randn(m, dtype=torch.float64, generator=gen)
X_mn = torch.randn(m, n, dtype=torch.float64, generator=gen)

# %% [markdown]
# ### 4.2. Для самостоятельного изучения: основные правила
#
# **Линейная форма:** $\nabla_{\mathbf{x}}(\mathbf{a}^\top\mathbf{x}) = \mathbf{a}$, так как
# $\mathbf{a}^\top\mathbf{x} = \sum_i a_i x_i$ и $\partial/\partial x_j$ оставляет только $a_j$.

# %%
check_gradient("∇ₓ(aᵀx) = a", lambda x: a_v @ x, x_v, a_v)

# %% [markdown]
# **Матрица на вектор:** $\frac{\partial (A\mathbf{x})}{\partial \mathbf{x}} = A$ — якобиан
# размера $m\times n$, потому что $(A\mathbf{x})_i = \sum_j A_{ij}x_j$.

# %%
check_jacobian("∂(Ax)/∂x = A", lambda x: A_mn @ x, x_v, A_mn)

# %% [markdown]
# **Квадратичная форма:** $\nabla_{\mathbf{x}}(\mathbf{x}^\top A\mathbf{x}) = (A + A^\top)\,\mathbf{x}$;
# для симметричной $A$ это $2A\mathbf{x}$. **Вопрос.** Как вы думаете, верна ли формула $2A\mathbf{x}$ для
# нашей несимметричной $A$?

# %%
check_gradient("∇ₓ(xᵀAx) = (A + Aᵀ)x", lambda x: x @ A_sq @ x, x_v, (A_sq + A_sq.T) @ x_v)
print(f"а «формула» 2Ax ошиблась бы на {relative_error(2 * A_sq @ x_v, (A_sq + A_sq.T) @ x_v):.0%}")

# %% [markdown]
# **Нормы:**
# $$\nabla_{\mathbf{x}}\|\mathbf{x}\|_2^2 = 2\mathbf{x},\qquad
# \nabla_{\mathbf{x}}\|\mathbf{x}\|_2 = \frac{\mathbf{x}}{\|\mathbf{x}\|_2}\ (\mathbf{x}\ne 0),\qquad
# \nabla_X\|X\|_F^2 = 2X,\qquad \nabla_X\|X\|_F = \frac{X}{\|X\|_F}\ (X\ne 0).$$
# Норма Фробениуса $\|X\|_F^2 = \sum_{ij} X_{ij}^2$ — это обычная норма вектора из всех элементов матрицы.

# %%
check_gradient("∇ₓ‖x‖² = 2x", lambda x: (x**2).sum(), x_v, 2 * x_v)
check_gradient("∇ₓ‖x‖ = x / ‖x‖", lambda x: x.norm(), x_v, x_v / x_v.norm())
check_gradient("∇_X ‖X‖²_F = 2X", lambda X: (X**2).sum(), X_mn, 2 * X_mn)
check_gradient("∇_X ‖X‖_F = X / ‖X‖_F", lambda X: X.norm(), X_mn, X_mn / X_mn.norm())

# %% [markdown]
# ### 4.3. Для самостоятельного изучения: производные матрично-векторных операций
#
# * $\nabla_A(\mathbf{u}^\top A\mathbf{x}) = \mathbf{u}\mathbf{x}^\top$ (внешнее произведение, форма $m\times n$, как у $A$);
# * $\nabla_{\mathbf{x}}\|A\mathbf{x} - \mathbf{b}\|^2 = 2A^\top(A\mathbf{x} - \mathbf{b})$;
# * $\nabla_A\|A\mathbf{x} - \mathbf{b}\|^2 = 2(A\mathbf{x} - \mathbf{b})\,\mathbf{x}^\top$.
#
# Полезный приём: **формы подсказывают ответ**. $\nabla_A$ обязан иметь форму $m\times n$; из
# вектора длины $m$ и вектора длины $n$ такую матрицу даёт только внешнее произведение.

# %%
check_gradient("∇_A(uᵀAx) = u xᵀ", lambda A: u_m @ A @ x_v, A_mn, torch.outer(u_m, x_v))
residual = A_mn @ x_v - b_m
check_gradient("∇ₓ‖Ax − b‖² = 2Aᵀ(Ax − b)", lambda x: ((A_mn @ x - b_m) ** 2).sum(), x_v, 2 * A_mn.T @ residual)
check_gradient("∇_A‖Ax − b‖² = 2(Ax − b)xᵀ", lambda A: ((A @ x_v - b_m) ** 2).sum(), A_mn, 2 * torch.outer(residual, x_v))

# %% [markdown]
# ### 4.4. Примеры для нейросетей
#
# **Линейный слой** $Y = XW + \mathbf{b}$ для батча: $X \in \mathbb{R}^{N\times d}$,
# $W \in \mathbb{R}^{d\times k}$, $\mathbf{b} \in \mathbb{R}^{k}$ (прибавляется к каждой строке,
# broadcasting), $Y \in \mathbb{R}^{N\times k}$. Сверху пришёл градиент $G = \nabla_Y L$ формы $N\times k$:
#
# | градиент | формула | форма |
# |---|---|---|
# | $\nabla_W L$ | $X^\top G$ | $d\times k$ |
# | $\nabla_X L$ | $G\,W^\top$ | $N\times d$ |
# | $\nabla_{\mathbf{b}} L$ | $\sum_n G_{n,:}$ — суммы по столбцам | $k$ |
#
# Формы подсказывают формулы; $\mathbf{b}$ использован $N$ раз, и вклады складываются. Проверим против
# autograd на $L = \sum_{nj}\sin(Y_{nj})$, где $G = \cos(Y)$.

# %%
gen = torch.Generator().manual_seed(SEED)  # генератор случайных чисел с нашим seed
N, d, k = 5, 3, 2
X_l = torch.randn(N, d, dtype=torch.float64, generator=gen)
W_l = torch.randn(d, k, dtype=torch.float64, generator=gen)
b_l = torch.randn(k, dtype=torch.float64, generator=gen)
G_l = torch.cos(X_l @ W_l + b_l)  # ∇_Y L для L = sum(sin(Y))
X_g, W_g, b_g = (t.clone().requires_grad_() for t in (X_l, W_l, b_l))
torch.sin(X_g @ W_g + b_g).sum().backward()
for name, formula, by_autograd in (("∇_W L = Xᵀ G", X_l.T @ G_l, W_g.grad), ("∇_X L = G Wᵀ", G_l @ W_l.T, X_g.grad),
                                   ("∇_b L = G.sum(0)", G_l.sum(dim=0), b_g.grad)):
    print(f"{name:17} форма {tuple(formula.shape)!s:7} совпадает с autograd: {torch.allclose(formula, by_autograd)}")

# %% [markdown]
# #### Для самостоятельного изучения: MSE; `nn.Linear` хранит вес транспонированным
#
# Те же три формулы линейного слоя — ещё и против конечных разностей (`check_gradient` из подраздела
# «как мы проверяем формулы»):

# %%
check_gradient("∇_W L = Xᵀ G", lambda W: torch.sin(X_l @ W + b_l).sum(), W_l, X_l.T @ G_l)
check_gradient("∇_X L = G Wᵀ", lambda X: torch.sin(X @ W_l + b_l).sum(), X_l, G_l @ W_l.T)
check_gradient("∇_b L = G.sum(0)", lambda b: torch.sin(X_l @ W_l + b).sum(), b_l, G_l.sum(dim=0))

# %% [markdown]
# **MSE.** Для линейной регрессии $\hat{\mathbf{y}} = X\mathbf{w}$ и
# $L = \frac{1}{N}\|X\mathbf{w} - \mathbf{y}\|^2$:
# $$\nabla_{\hat{\mathbf{y}}} L = \frac{2}{N}(\hat{\mathbf{y}} - \mathbf{y}),\qquad
# \nabla_{\mathbf{w}} L = X^\top\nabla_{\hat{\mathbf{y}}} L = \frac{2}{N}X^\top(X\mathbf{w} - \mathbf{y}).$$
# Второе — это цепное правило: градиент по предсказаниям, умноженный на $X^\top$, как в линейном слое.
#
# **`nn.Linear`.** В PyTorch `nn.Linear` хранит вес `weight` формы $(k, d)$ = (out, in) и считает $Y = XW^\top + \mathbf{b}$.
# **Вопрос.** Как вы думаете, какой формы будет `weight.grad` и по какой формуле он считается?

# %%
linear = nn.Linear(d, k).double()
Y_lin = linear(X_l)
torch.sin(Y_lin).sum().backward()
G_lin = torch.cos(Y_lin.detach())
print(f"weight: {tuple(linear.weight.shape)}, weight.grad: {tuple(linear.weight.grad.shape)}")
print(f"отн. ошибка Gᵀ X: {relative_error(G_lin.T @ X_l, linear.weight.grad):.1e}, "
      f"G.sum(0): {relative_error(G_lin.sum(dim=0), linear.bias.grad):.1e}")

# %% [markdown]
# Градиент снова имеет форму своей переменной: `weight.grad` — $(k, d)$, как `weight`. Раз вес хранится
# транспонированным, транспонирована и формула: $G^\top X = (X^\top G)^\top$.
#
# Проверим обе формулы MSE выше.

# %%
w_r = torch.randn(d, dtype=torch.float64, generator=gen)
y_r = torch.randn(N, dtype=torch.float64, generator=gen)
pred = X_l @ w_r
check_gradient("∇_ŷ MSE = 2(ŷ − y)/N", lambda p: ((p - y_r) ** 2).mean(), pred, 2 * (pred - y_r) / N)
check_gradient("∇_w MSE = 2Xᵀ(Xw − y)/N", lambda w: ((X_l @ w - y_r) ** 2).mean(), w_r, 2 * X_l.T @ (pred - y_r) / N)

# %% [markdown]
# Сводка всех проверок раздела: наибольшие относительные ошибки.

# %%
worst_autograd = max(e["autograd"] for e in matrix_checks.values())
worst_numeric = max(e["finite_diff"] for e in matrix_checks.values())
print(f"формул проверено: {len(matrix_checks)}")
print(f"наибольшая отн. ошибка vs autograd: {worst_autograd:.1e}, vs конечные разности: {worst_numeric:.1e}")

# %% [markdown]
# ### 4.5. Для самостоятельного изучения: полезные ресурсы
#
# * T. Parr, J. Howard. [The Matrix Calculus You Need For Deep Learning](https://arxiv.org/abs/1802.01528) —
#   матричное дифференцирование с нуля, ровно то, что нужно для нейросетей (numerator layout).
# * K. B. Petersen, M. S. Pedersen. [The Matrix Cookbook](https://www.math.uwaterloo.ca/~hwolkowi/matrixcookbook.pdf) —
#   справочник формул; проверяйте, какое соглашение о layout там используется.
# * [matrixcalculus.org](https://www.matrixcalculus.org/) — считает производные матричных выражений
#   символьно; удобно сверять свои выкладки.

# %% [markdown]
# ## 5. Примеры в PyTorch: сложение и умножение
#
# **Вопрос.** Какие градиенты получат $a = 1000$ и $b = 0.001$ при $L = 3(a + b)$ и при $L = ab$?

# %%
a = torch.tensor(1000.0, requires_grad=True)
b = torch.tensor(0.001, requires_grad=True)
(3 * (a + b)).backward()
print(f"L = 3(a + b): a.grad = {a.grad.item():g}, b.grad = {b.grad.item():g} — сложение раздаёт upstream")
a.grad = b.grad = None
(a * b).backward()
print(f"L = ab:       a.grad = {a.grad.item():g} (= b), b.grad = {b.grad.item():g} (= a) — умножение меняет входы местами")

# %% [markdown]
# ### 5.1. Для самостоятельного изучения: max и ReLU направляют градиент
#
# $\max(a, b)$ передаёт весь upstream **только большему** входу; ReLU — это $\max(0, x)$,
# она пропускает градиент там, где $x > 0$ (в нуле PyTorch берёт производную 0).

# %%
a = torch.tensor(2.0, requires_grad=True)
b = torch.tensor(5.0, requires_grad=True)
(3 * torch.maximum(a, b)).backward()
print(f"max: a.grad = {a.grad.item()}, b.grad = {b.grad.item()}")

x_relu = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], requires_grad=True)
torch.relu(x_relu).sum().backward()
print(f"relu: x = {x_relu.tolist()}\n      grad = {x_relu.grad.tolist()}")

# %% [markdown]
# ### 5.2. Для самостоятельного изучения: градиенты накапливаются в `.grad`
#
# **Вопрос.** Как вы думаете, что окажется в `w.grad` после трёх вызовов `backward()` для $L = (2w)^2$ при $w = 1$?

# %%
w = torch.tensor(1.0, requires_grad=True)
for call in range(1, 4):
    loss = (2 * w) ** 2  # dL/dw = 8w = 8
    loss.backward()
    print(f"после backward №{call}: w.grad = {w.grad.item()}")

# %% [markdown]
# `backward()` **прибавляет** градиент к `.grad`, а не перезаписывает его. Это нужно, когда градиент
# одной функции потерь собирают из нескольких вызовов `backward()`: например, для слагаемых функции
# потерь, посчитанных отдельно, или когда большой батч обрабатывают по частям (gradient accumulation).
# Но между шагами оптимизации градиенты надо обнулять: `optimizer.zero_grad()` или `model.zero_grad()`
# (они ставят `.grad = None`).

# %%
w.grad = None
(2 * w).pow(2).backward()
print(f"после обнуления и одного backward: w.grad = {w.grad.item()}")

# %% [markdown]
# ### 5.3. Для самостоятельного изучения: листовые и нелистовые тензоры
#
# **Лист** (leaf) — тензор, созданный пользователем, а не операцией графа; у него `grad_fn is None`.
# Градиент в `.grad` PyTorch сохраняет только у листьев с `requires_grad=True`: промежуточные
# градиенты не нужны для шага оптимизации, и их хранение стоило бы памяти.

# %%
x_leaf = torch.tensor([1.0, 2.0], requires_grad=True)
y_mid = x_leaf * 3
z_out = (y_mid**2).sum()
z_out.backward()
print(f"x_leaf: is_leaf={x_leaf.is_leaf}, grad_fn={x_leaf.grad_fn}, grad={x_leaf.grad.tolist()}")
print(f"y_mid:  is_leaf={y_mid.is_leaf}, grad_fn={type(y_mid.grad_fn).__name__}")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print(f"y_mid.grad = {y_mid.grad}")
for warning in caught[:1]:
    print(f"PyTorch предупреждает: {str(warning.message)[:90]}...")

# %% [markdown]
# Если промежуточный градиент всё же нужен (например, для отладки), попросите его заранее:

# %%
y_mid = x_leaf * 3
y_mid.retain_grad()
(y_mid**2).sum().backward()
print(f"y_mid.grad = {y_mid.grad.tolist()}  (= 2·y_mid)")

# %% [markdown]
# ## 6. Собственный autograd: класс Value
#
# Напишем свой маленький autograd для скаляров: класс `Value` запоминает, из чего получен
# результат, и умеет сделать обратный проход.
#
# ### 6.1. Магические методы (magic methods)
#
# `a + b` Python превращает в вызов `a.__add__(b)`, `a * b` — в `a.__mul__(b)`: определив эти
# методы, мы пишем с объектами `Value` обычные формулы.
#
# #### Для самостоятельного изучения: отражённые методы и `sum`
#
# Так же `-a` превращается в `a.__neg__()`, `a ** 2` — в `a.__pow__(2)`. Если `a.__add__(b)` вернул
# `NotImplemented` (например, `a` — число, а `b` — наш объект), Python пробует **отражённый**
# (reflected) метод `b.__radd__(a)`.

# %%
class Meters:
    """Длина в метрах: пример класса с перегруженным сложением (только __add__)."""

    def __init__(self, value: float) -> None:
        """Запоминает длину."""
        self.value = value

    def __add__(self, other: "Meters | float") -> "Meters":
        """Meters + Meters или Meters + число."""
        other_value = other.value if isinstance(other, Meters) else other
        return Meters(self.value + other_value)

    def __repr__(self) -> str:
        """Как объект печатается."""
        return f"Meters({self.value})"


print(Meters(1) + Meters(2), Meters(1) + 2)

# %% [markdown]
# **Вопрос.** Как вы думаете, что выведут `2 + Meters(1)` и `sum([Meters(1), Meters(2)])`?
# Подсказка: `sum` начинает с нуля, то есть считает `0 + Meters(1) + Meters(2)`.

# %%
attempts = {"2 + Meters(1)": lambda: 2 + Meters(1), "sum([Meters(1), Meters(2)])": lambda: sum([Meters(1), Meters(2)])}
for text, attempt in attempts.items():
    try:
        print(text, "=", attempt())
    except TypeError as error:
        print(f"{text}: TypeError: {error}")

# %%
class MetersWithRadd(Meters):
    """Meters, который умеет стоять справа от числа."""

    def __radd__(self, other: float) -> "Meters":
        """число + Meters: Python вызывает это, когда int.__add__ вернул NotImplemented."""
        return self + other


print(2 + MetersWithRadd(1), sum([MetersWithRadd(1), MetersWithRadd(2)]))

# %% [markdown]
# Поэтому у полного класса `Value` (подраздел к шагу 3) будут `__radd__`, `__rmul__`, `__rsub__`,
# `__rtruediv__`: без них не работают ни `sum(values)`, ни `2 * v`, ни `1 - v`.
#
# ### 6.2. Замыкания (closures)
#
# Функция, определённая внутри другой функции, **захватывает** её переменные и помнит их после её
# завершения. В `Value` каждая операция оставит такое замыкание `_backward`, которое помнит свои входы
# и **меняет** захваченные объекты: прибавляет к их `.grad`.
#
# #### Для самостоятельного изучения: замыкание в коде

# %%
def make_scaler(factor: float) -> Callable[[float], float]:
    """Возвращает функцию, умножающую на factor; factor сохраняется в замыкании."""

    def scale(x: float) -> float:
        """Умножает x на захваченный factor."""
        return factor * x

    return scale


double = make_scaler(2.0)
print(f"double(21) = {double(21.0)}")
print(f"захваченные имена: {double.__code__.co_freevars}, их значения: {[c.cell_contents for c in double.__closure__]}")

# %% [markdown]
# #### Для самостоятельного изучения: замыкание меняет захваченный объект; ловушка в цикле
#
# Замыкание хранит **ссылку** на объект, а не его копию. Значит, оно может менять атрибуты
# захваченного объекта — ровно это будет делать обратный проход в `Value`: прибавлять к `.grad` входов.

# %%
class Box:
    """Объект с одним числовым полем grad."""

    def __init__(self) -> None:
        """Начинаем с нулевого градиента."""
        self.grad = 0.0


def make_accumulator(target: Box, local: float) -> Callable[[float], None]:
    """Возвращает функцию, прибавляющую upstream × local к target.grad (target захвачен по ссылке)."""

    def accumulate(upstream: float) -> None:
        """Прибавляет вклад к градиенту захваченного объекта."""
        target.grad += upstream * local

    return accumulate


box = Box()
push = make_accumulator(box, local=3.0)
push(1.0)
push(0.5)
print(f"box.grad = {box.grad}  (1·3 + 0.5·3)")

# %% [markdown]
# Тонкость: захватывается **переменная**, а не значение в момент создания. **Вопрос.** Как вы думаете,
# что напечатает код ниже?

# %%
functions = [lambda: i for i in range(3)]  # noqa: B023 (демонстрируем ловушку нарочно)
print([f() for f in functions])

# %% [markdown]
# Все три функции видят одну переменную `i`, которая к моменту вызова равна 2. В `Value` этой
# ловушки нет: каждая операция — отдельный вызов метода со своими локальными переменными,
# и каждое замыкание захватывает свои `self` и `other`.
#
# ### 6.3. Шаг 1: узел графа и три операции
#
# Узел хранит значение `data`, градиент `grad` (производная итогового выхода по этому узлу),
# входы операции `_prev` и замыкание `_backward(upstream)`, которое прибавляет каждому входу
# **upstream × локальная производная**. Прямой проход и локальная производная стоят рядом, в одном методе.

# %%
def leaf_backward(upstream: float) -> None:
    """Backward листа: входов нет, передавать градиент дальше некому."""


class Value:
    """Шаг 1: скаляр-узел графа со сложением, умножением и tanh; backward пока вызываем руками."""

    def __init__(self, data: float, _children: tuple = (), _op: str = "") -> None:
        """Создаёт узел; у листа входов нет."""
        self.data = float(data)
        self.grad = 0.0
        self._backward = leaf_backward
        self._prev = _children
        self._op = _op

    def __repr__(self) -> str:
        """Значение и градиент узла."""
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    def __add__(self, other: "Value") -> "Value":
        """Сумма a + b: ∂/∂a = 1, ∂/∂b = 1."""
        out = Value(self.data + other.data, (self, other), "+")

        def _backward(upstream: float) -> None:
            """Сложение раздаёт upstream обоим входам."""
            self.grad += upstream
            other.grad += upstream

        out._backward = _backward
        return out

    def __mul__(self, other: "Value") -> "Value":
        """Произведение a · b: ∂/∂a = b, ∂/∂b = a."""
        out = Value(self.data * other.data, (self, other), "*")

        def _backward(upstream: float) -> None:
            """Умножение меняет входы местами."""
            self.grad += other.data * upstream
            other.grad += self.data * upstream

        out._backward = _backward
        return out

    def tanh(self) -> "Value":
        """Гиперболический тангенс tanh(a): ∂/∂a = 1 − tanh²(a)."""
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward(upstream: float) -> None:
            """Производная выражается через уже посчитанное значение t."""
            self.grad += (1 - t * t) * upstream

        out._backward = _backward
        return out


# %% [markdown]
# Вызывать `_backward` надо в правильном порядке: узел можно обрабатывать, только когда **все** его
# потребители уже отдали ему свой вклад. Такой порядок даёт **топологическая сортировка**
# (topological sort) графа: упорядочим узлы так, чтобы каждый стоял после своих входов, и пройдём
# этот список с конца.
#
# #### Для самостоятельного изучения: `_backward` руками, верный и неверный порядок
#
# Повторим пример из раздела 2, вызывая `_backward` руками от выхода к входам.

# %%
x_n, y_n, z_n = Value(-2.0), Value(5.0), Value(-4.0)
q_n = x_n + y_n
f_n = q_n * z_n
f_n.grad = 1.0
f_n._backward(f_n.grad)  # f раздаёт градиент q и z
q_n._backward(q_n.grad)  # q раздаёт градиент x и y
print(f"f = {f_n.data}; x.grad = {x_n.grad}, y.grad = {y_n.grad}, z.grad = {z_n.grad}")

# %% [markdown]
# **Вопрос.** Как вы думаете, что получится, если вызвать `q._backward` **раньше**, чем `f._backward`?

# %%
x_n, y_n, z_n = Value(-2.0), Value(5.0), Value(-4.0)
q_n = x_n + y_n
f_n = q_n * z_n
f_n.grad = 1.0
q_n._backward(q_n.grad)  # q.grad ещё 0: раздавать нечего
f_n._backward(f_n.grad)
print(f"неверный порядок: x.grad = {x_n.grad}, y.grad = {y_n.grad}, z.grad = {z_n.grad}")

# %% [markdown]
# `q.grad` был ещё 0, когда `q` раздавал градиент, поэтому $x$ и $y$ получили 0.
#
# ### 6.4. Шаг 2: топологическая сортировка
#
# Самый короткий вариант — рекурсивный обход в глубину: сначала входы, потом сам узел.

# %%
def topological_sort_recursive(root: "Value") -> list["Value"]:
    """Узлы графа root в топологическом порядке; рекурсивный обход в глубину."""
    order: list[Value] = []
    visited: set[Value] = set()

    def visit(node: "Value") -> None:
        """Добавляет в order сначала все входы узла, потом сам узел."""
        if node not in visited:
            visited.add(node)
            for child in node._prev:
                visit(child)
            order.append(node)

    visit(root)
    return order


x_n, y_n, z_n = Value(-2.0), Value(5.0), Value(-4.0)
f_n = (x_n + y_n) * z_n  # граф примера из раздела 2
print([node._op or node.data for node in topological_sort_recursive(f_n)])

# %% [markdown]
# ### 6.5. Шаг 3: метод `backward`
#
# Обратный проход: градиент выхода равен 1, дальше вызываем `_backward` всех узлов в **обратном**
# топологическом порядке. Допишем этот метод в класс шага 1 и повторим пример из раздела 2 одной
# строкой `f.backward()`.


# %%
def value_backward(self: Value) -> None:
    """Обратный проход из узла self: ∂self/∂self = 1, затем _backward узлов с конца топологического порядка."""
    self.grad = 1.0
    for node in reversed(topological_sort_recursive(self)):
        node._backward(node.grad)


Value.backward = value_backward  # дописываем метод в класс шага 1
x_n, y_n, z_n = Value(-2.0), Value(5.0), Value(-4.0)
f_n = (x_n + y_n) * z_n
f_n.backward()
print(f"f.backward(): x.grad = {x_n.grad}, y.grad = {y_n.grad}, z.grad = {z_n.grad}")

# %% [markdown]
# Все `_backward` пишут `+=`, а не `=`: если узел — вход нескольких операций, вклады путей
# **складываются** (сумма по путям из раздела 3). Подразделы ниже (дома) дописывают полный класс:
# остальные операции, сортировку без рекурсии и особые точки; на занятии их не выполняем: дальше на
# занятии кода нет.
#
# #### Для самостоятельного изучения: обход в глубину с явным стеком
#
# **Вопрос.** Как вы думаете, что будет с рекурсивным обходом на цепочке из 5000 операций? (Граф глубиной в тысячи узлов —
# обычное дело: например, рекуррентная сеть на длинной последовательности.)

# %%
deep = Value(0.0)
for _ in range(5000):
    deep = deep + Value(1.0)
try:
    topological_sort_recursive(deep)
except RecursionError as error:
    print(f"RecursionError: {error} (лимит рекурсии Python: {sys.getrecursionlimit()})")

# %% [markdown]
# Поэтому нужен обход без рекурсии. Смотрим на верхний узел стека, не снимая его.
# В первый раз кладём над ним его входы; когда узел снова оказался наверху, все его входы уже
# обработаны, и его можно дописать в ответ. Узел может попасть в стек несколько раз (если он вход
# нескольких операций), поэтому помним, кого уже дописали.

# %%
def topological_sort(root: "Value") -> list["Value"]:
    """Узлы графа root в топологическом порядке: каждый узел стоит после всех своих входов.

    Обход в глубину с явным стеком вместо рекурсии, поэтому глубина графа не ограничена
    лимитом рекурсии Python.
    """
    order: list[Value] = []
    expanded: set[Value] = set()  # узлы, чьи входы уже положены в стек
    placed: set[Value] = set()  # узлы, уже дописанные в order
    stack = [root]
    while stack:
        node = stack[-1]
        if node not in expanded:  # первый визит: сначала обработаем входы
            expanded.add(node)
            stack.extend(reversed(node._prev))  # первый вход окажется наверху: порядок как у рекурсии
        else:  # снова наверху: все входы уже в order
            stack.pop()
            if node not in placed:
                placed.add(node)
                order.append(node)
    return order


print("со стеком:   ", [node._op or node.data for node in topological_sort(f_n)])
print("рекурсивный: ", [node._op or node.data for node in topological_sort_recursive(f_n)])
print(f"цепочка: {len(topological_sort(deep))} узлов, без RecursionError")

# %% [markdown]
# #### Для самостоятельного изучения: полный класс
#
# Собираем всё вместе. `+` и `*` — как в шаге 1 (только число теперь можно поставить и справа, и
# слева); остальные операции (`/`, `**`, `relu`, `tanh`, `exp`) — по тому же образцу: значение и
# локальная производная в одном коротком методе; `-a`, `a - b` и отражённые методы выражены через
# базовые, и их обратный проход получается сам по цепному правилу. Метод `backward` — как в шаге 3,
# только с `topological_sort` и обнулением промежуточных узлов. (Функции `ieee_pow` и
# `ieee_div` считают степень и деление так же, как PyTorch, с `inf` и `nan` в особых точках.)
#
# * `__slots__` убирает у каждого узла словарь атрибутов: узлов будут сотни тысяч, так быстрее и
#   экономнее по памяти. По той же причине `_backward` получает upstream аргументом, а не читает
#   `out.grad`: замыкание не ссылается на свой узел, в графе нет циклических ссылок, и после шага
#   обучения он освобождается сразу, без сборщика мусора.
# * **Особые точки.** `0.0 ** -1` в Python бросает `ZeroDivisionError`, `(-8.0) ** 0.5` даёт
#   комплексное число, `math.exp(1000)` бросает `OverflowError`. PyTorch в таких точках возвращает
#   `inf` или `nan` (по стандарту IEEE 754), и мы делаем так же: степень считаем функцией
#   `ieee_pow` ниже, деление — `ieee_div`, а переполнение экспоненты превращаем в `inf`. Производная $x^0$ равна 0
#   везде, в том числе в нуле (как в PyTorch).
# * **Повторный обратный проход.** `backward()` сначала обнуляет градиенты промежуточных узлов
#   графа: если обнулить листья и вызвать `backward()` ещё раз, получится то же, что в первый раз
#   (листья, как и в PyTorch, копят градиент, пока их не обнулят).

# %%
def ieee_pow(base: float, exponent: float) -> float:
    """base ** exponent по правилам IEEE 754, как torch.pow: 0 ** (-1) = inf, (-8) ** 0.5 = nan, 10 ** 400 = inf.

    Оператор ** в Python на этих входах бросает ZeroDivisionError или OverflowError либо
    возвращает комплексное число; np.power считает как C и PyTorch.
    """
    with np.errstate(all="ignore"):  # inf и nan здесь — ожидаемый ответ, а не повод для предупреждения
        return float(np.power(np.float64(base), exponent))


def ieee_div(numerator: float, denominator: float) -> float:
    """numerator / denominator по IEEE 754, как в PyTorch: 1 / 0 = inf, 0 / 0 = nan (а не ZeroDivisionError)."""
    with np.errstate(all="ignore"):
        return float(np.float64(numerator) / denominator)


# %% [markdown]
# #### Для самостоятельного изучения: класс `Value` целиком


# %%
class Value:
    """Скаляр, который помнит, из чего он вычислен, и умеет считать градиенты (reverse mode).

    data — значение; grad — производная итогового выхода по этому узлу; _prev — входы операции;
    _op — её имя (для рисунков); _backward(upstream) — замыкание, которое прибавляет каждому
    входу upstream × локальная производная.
    """

    __slots__ = ("data", "grad", "_backward", "_prev", "_op")

    def __init__(self, data: float, _children: tuple["Value", ...] = (), _op: str = "") -> None:
        """Создаёт узел со значением data; у листа входов нет."""
        self.data = float(data)
        self.grad = 0.0
        self._backward = leaf_backward
        self._prev = _children
        self._op = _op

    def __repr__(self) -> str:
        """Значение и градиент узла."""
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    def __add__(self, other: "Value | float") -> "Value":
        """Сумма a + b: ∂/∂a = 1, ∂/∂b = 1."""
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward(upstream: float) -> None:
            """Сложение раздаёт upstream обоим входам."""
            self.grad += upstream
            other.grad += upstream

        out._backward = _backward
        return out

    def __mul__(self, other: "Value | float") -> "Value":
        """Произведение a · b: ∂/∂a = b, ∂/∂b = a."""
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward(upstream: float) -> None:
            """Умножение меняет входы местами."""
            self.grad += other.data * upstream
            other.grad += self.data * upstream

        out._backward = _backward
        return out

    def __pow__(self, k: float) -> "Value":
        """a ** k для числа k: ∂/∂a = k · a^(k − 1)."""
        if isinstance(k, Value):
            raise TypeError("показатель степени должен быть числом (степень Value — упражнение 2)")
        out = Value(ieee_pow(self.data, k), (self,), f"**{k:g}")

        def _backward(upstream: float) -> None:
            """Степенное правило; для k = 0 производная 0 и в нуле, как в PyTorch."""
            self.grad += (0.0 if k == 0 else k * ieee_pow(self.data, k - 1)) * upstream

        out._backward = _backward
        return out

    def relu(self) -> "Value":
        """max(0, a): ∂/∂a = 1 при a > 0, иначе 0 (в нуле 0; nan проходит, как в PyTorch)."""
        out = Value(0.0 if self.data <= 0 else self.data, (self,), "relu")

        def _backward(upstream: float) -> None:
            """ReLU пропускает upstream, если вход не <= 0."""
            if not self.data <= 0:
                self.grad += upstream

        out._backward = _backward
        return out

    def tanh(self) -> "Value":
        """tanh(a): ∂/∂a = 1 − tanh²(a). math.tanh не переполняется: tanh(±1000) = ±1."""
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward(upstream: float) -> None:
            """Производная выражается через уже посчитанное значение t."""
            self.grad += (1 - t * t) * upstream

        out._backward = _backward
        return out

    def exp(self) -> "Value":
        """Экспонента e^a: ∂/∂a = e^a; при переполнении inf, как в PyTorch."""
        try:
            e = math.exp(self.data)
        except OverflowError:  # e^a больше максимального float
            e = math.inf
        out = Value(e, (self,), "exp")

        def _backward(upstream: float) -> None:
            """Экспонента — сама себе производная."""
            self.grad += e * upstream

        out._backward = _backward
        return out

    def __neg__(self) -> "Value":
        """Минус: −a = a · (−1)."""
        return self * -1

    def __sub__(self, other: "Value | float") -> "Value":
        """Разность: a − b = a + (−b)."""
        return self + (-other)

    def __truediv__(self, other: "Value | float") -> "Value":
        """Частное a / b: ∂/∂a = 1 / b, ∂/∂b = −(a / b) / b (как в PyTorch: без переполнения b²)."""
        other = other if isinstance(other, Value) else Value(other)
        quotient = ieee_div(self.data, other.data)
        out = Value(quotient, (self, other), "/")

        def _backward(upstream: float) -> None:
            """Деление: обоим входам, через уже посчитанное частное."""
            self.grad += ieee_div(upstream, other.data)
            other.grad -= ieee_div(quotient, other.data) * upstream

        out._backward = _backward
        return out

    def __radd__(self, other: float) -> "Value":
        """число + a."""
        return self + other

    def __rmul__(self, other: float) -> "Value":
        """число · a."""
        return self * other

    def __rsub__(self, other: float) -> "Value":
        """число − a."""
        return Value(other) - self

    def __rtruediv__(self, other: float) -> "Value":
        """число / a."""
        return Value(other) / self

    def backward(self) -> None:
        """Обратный проход: прибавляет к .grad листьев производные self по ним (∂self/∂self = 1)."""
        order = topological_sort(self)
        for node in order:  # градиенты промежуточных узлов считаем заново
            if node._prev:
                node.grad = 0.0
        self.grad += 1.0  # у выхода-листа градиент копится, как в PyTorch
        for node in reversed(order):
            node._backward(node.grad)


# %% [markdown]
# Быстрая проверка против PyTorch: числа слева и справа, `sum`, степень, деление, `exp`, `tanh`, `relu`.

# %%
v = Value(3.0)
w_val = Value(-2.0)
expr = 2 * v + v * w_val - 1 / v + sum([v, w_val, 4.0]) + (v**2) / w_val - (-v)
expr = expr + (0.5 * w_val).exp() + (v / 4).tanh() + (v + w_val).relu() + (v - 5).relu()
expr.backward()
vt = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
wt = torch.tensor(-2.0, dtype=torch.float64, requires_grad=True)
expr_t = 2 * vt + vt * wt - 1 / vt + (vt + wt + 4.0) + (vt**2) / wt - (-vt)
expr_t = expr_t + (0.5 * wt).exp() + (vt / 4).tanh() + (vt + wt).relu() + (vt - 5).relu()
expr_t.backward()
print(f"Value:   {expr.data:.12f}, dv = {v.grad:.12f}, dw = {w_val.grad:.12f}")
print(f"PyTorch: {expr_t.item():.12f}, dv = {vt.grad.item():.12f}, dw = {wt.grad.item():.12f}")
quick_check_error = relative_error(torch.tensor([expr.data, v.grad, w_val.grad], dtype=torch.float64),
                                   torch.tensor([expr_t.item(), vt.grad.item(), wt.grad.item()], dtype=torch.float64))
print(f"отн. ошибка: {quick_check_error:.1e}")

# %% [markdown]
# #### Для самостоятельного изучения: особые точки и повторный `backward()`
#
# Сверим с PyTorch значения и производные там, где наивная формула падает, и проверим, что
# второй обратный проход по тому же графу (после обнуления листьев) даёт то же, что первый.

# %%
edge_cases = {
    "x ** 0 при x = 0": (lambda t: t**0, 0.0),
    "x ** 0.5 при x = 0": (lambda t: t**0.5, 0.0),
    "x ** 0.5 при x = -4": (lambda t: t**0.5, -4.0),
    "1 / x при x = 0": (lambda t: 1 / t, 0.0),
    "exp(x) при x = 1000": (lambda t: t.exp(), 1000.0),
}
edge_case_matches = {}
for text, (build, x0) in edge_cases.items():
    x_e = Value(x0)
    out_e = build(x_e)
    out_e.backward()
    x_t = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    out_t = build(x_t)
    out_t.backward()
    ours, theirs = (out_e.data, x_e.grad), (out_t.item(), x_t.grad.item())
    edge_case_matches[text] = all(a == b or (math.isnan(a) and math.isnan(b)) for a, b in zip(ours, theirs, strict=True))
    print(f"{text:20} Value: {ours[0]:g}, grad {ours[1]:g} | PyTorch: {theirs[0]:g}, grad {theirs[1]:g}")

a_r, b_r, c_r = Value(1.0), Value(2.0), Value(4.0)
e_r = (a_r + b_r) * c_r
e_r.backward()
first_grads = [a_r.grad, b_r.grad, c_r.grad]
for leaf in (a_r, b_r, c_r):
    leaf.grad = 0.0  # так обнуляет градиенты zero_grad
e_r.backward()
second_grads = [a_r.grad, b_r.grad, c_r.grad]
print(f"e = (a + b) * c: первый backward {first_grads}, второй (после обнуления листьев) {second_grads}")

# %% [markdown]
# ### 6.6. Для самостоятельного изучения: переиспользованный узел `b = a + a`
#
# **Вопрос.** Как вы думаете, чему равен `a.grad` для `b = a + a`, и что сломается, если в `_backward`
# написать `=` вместо `+=`?

# %%
a_n = Value(3.0)
b_n = a_n + a_n
b_n.backward()
print(f"с +=: a.grad = {a_n.grad} (b = 2a, верно)")


def broken_add(x: Value, y: Value) -> Value:
    """Сложение с ошибкой: в локальном backward '=' вместо '+='."""
    out = Value(x.data + y.data, (x, y), "+")

    def _backward(upstream: float) -> None:
        """Перезаписывает градиент вместо накопления — так делать нельзя."""
        x.grad = upstream
        y.grad = upstream

    out._backward = _backward
    return out


a_n = Value(3.0)
broken_add(a_n, a_n).backward()
print(f"с  =: a.grad = {a_n.grad} (второй вклад затёр первый)")

# %% [markdown]
# Узел, который использован дважды, получает градиент по двум путям, и вклады надо **складывать**
# (то же самое правило суммы по путям из раздела 3). Поэтому все `_backward` пишут `+=`, а перед
# новым обратным проходом градиенты листьев обнуляют.
#
# ### 6.7. Для самостоятельного изучения: граф выражения
#
# Нарисуем граф выражения $L = \tanh(ab + ca)\cdot c$ (полным классом `Value`, функцией
# `draw_graph` из раздела 2): в каждом узле значение (`data`) и градиент (`grad`) после обратного
# прохода.
#
# Узлы $a$ и $c$ использованы дважды: их градиенты — суммы вкладов двух путей (что ломает `=`
# вместо `+=`, показано в подразделе 6.6).

# %%
def value_graph(root: Value, names: dict[str, Value]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Подписи узлов (имя или операция, data, grad) и рёбра графа root для draw_graph."""
    name_of = {id(node): name for name, node in names.items()}
    labels, edges = {}, []
    for node in topological_sort(root):
        title = name_of.get(id(node), node._op)
        labels[str(id(node))] = f"{title}\ndata {node.data:.3f}\ngrad {node.grad:.3f}"
        edges += [(str(id(child)), str(id(node))) for child in node._prev]
    return labels, edges


a_e, b_e, c_e = Value(0.5), Value(-1.0), Value(2.0)
L_e = (a_e * b_e + c_e * a_e).tanh() * c_e
L_e.backward()
fig, ax = plt.subplots(figsize=(12, 4))
draw_graph(*value_graph(L_e, {"a": a_e, "b": b_e, "c": c_e}), ax, "Граф L = tanh(ab + ca) · c после backward")
plt.show()

# %% [markdown]
# #### Для самостоятельного изучения: те же числа в PyTorch
#
# То же выражение в PyTorch должно дать те же числа.

# %%
at, bt, ct = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.5, -1.0, 2.0))
Lt = torch.tanh(at * bt + ct * at) * ct
Lt.backward()
print(f"{'':>4} {'Value':>16} {'PyTorch':>16}")
for name, ours, theirs in [("L", L_e.data, Lt.item()), ("∂a", a_e.grad, at.grad.item()),
                           ("∂b", b_e.grad, bt.grad.item()), ("∂c", c_e.grad, ct.grad.item())]:
    print(f"{name:>4} {ours:16.12f} {theirs:16.12f}")
expression_error = relative_error(torch.tensor([L_e.data, a_e.grad, b_e.grad, c_e.grad], dtype=torch.float64),
                                  torch.tensor([Lt.item(), at.grad.item(), bt.grad.item(), ct.grad.item()], dtype=torch.float64))
print(f"отн. ошибка: {expression_error:.1e}")

# %% [markdown]
# ### 6.8. Для самостоятельного изучения: нейросеть на `Value`
#
# Из `Value` соберём нейрон, слой и MLP той же архитектуры, что в части I
# (2 → hidden → hidden → 1, ReLU). Веса инициализируем как `nn.Linear`: $U(-1/\sqrt{n}, 1/\sqrt{n})$.

# %%
class Neuron:
    """Нейрон на Value: relu(w·x + b), а в выходном слое просто w·x + b."""

    def __init__(self, n_inputs: int, nonlinear: bool, rnd: random.Random) -> None:
        """Веса и сдвиг из U(−1/√n, 1/√n), как в nn.Linear."""
        bound = 1 / math.sqrt(n_inputs)
        self.w = [Value(rnd.uniform(-bound, bound)) for _ in range(n_inputs)]
        self.b = Value(rnd.uniform(-bound, bound))
        self.nonlinear = nonlinear

    def __call__(self, x: list) -> Value:
        """Выход нейрона для входа x (список чисел или Value)."""
        act = sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b)
        return act.relu() if self.nonlinear else act

    def parameters(self) -> list[Value]:
        """Веса и сдвиг."""
        return [*self.w, self.b]


class Layer:
    """Полносвязный слой: n_outputs нейронов с общим входом."""

    def __init__(self, n_inputs: int, n_outputs: int, nonlinear: bool, rnd: random.Random) -> None:
        """Создаёт нейроны слоя."""
        self.neurons = [Neuron(n_inputs, nonlinear, rnd) for _ in range(n_outputs)]

    def __call__(self, x: list) -> list[Value]:
        """Выходы всех нейронов слоя."""
        return [neuron(x) for neuron in self.neurons]

    def parameters(self) -> list[Value]:
        """Параметры всех нейронов слоя."""
        return [p for neuron in self.neurons for p in neuron.parameters()]


class ValueMLP:
    """MLP на Value: 2 → hidden → hidden → 1 с ReLU, как MLP из части I."""

    def __init__(self, hidden: int = 8, seed: int = SEED) -> None:
        """Создаёт три слоя; seed фиксирует инициализацию."""
        rnd = random.Random(seed)
        self.hidden = hidden
        self.layers = [Layer(2, hidden, True, rnd), Layer(hidden, hidden, True, rnd), Layer(hidden, 1, False, rnd)]

    def __call__(self, x: list[float]) -> Value:
        """Оценка (score) для одной точки x = [x1, x2]."""
        for layer in self.layers:
            x = layer(x)
        return x[0]

    def parameters(self) -> list[Value]:
        """Все параметры сети."""
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self) -> None:
        """Обнуляет градиенты параметров перед новым обратным проходом."""
        for p in self.parameters():
            p.grad = 0.0


def value_loss(net: ValueMLP, X: list[list[float]], y: list[float], alpha: float = ALPHA) -> Value:
    """Hinge loss + L2 на Value: те же формулы, что hinge_loss и l2_penalty из части I."""
    margins = [(1 - yi * net(xi)).relu() for xi, yi in zip(X, y, strict=True)]
    return sum(margins) / len(margins) + alpha * sum(p * p for p in net.parameters())


value_net = ValueMLP(hidden=8)
print(f"параметров: {len(value_net.parameters())}, score первой точки: {value_net(X_train[0].tolist())}")

# %% [markdown]
# **Эквивалентность с PyTorch.** Перенесём те же веса в `MLP` из части I (float64) и сравним выходы
# и градиенты на одних и тех же точках. **Вопрос.** Как вы думаете, насколько они совпадут?

# %%
def value_mlp_tensors(net: ValueMLP, field: str) -> list[torch.Tensor]:
    """Поле 'data' или 'grad' параметров net как тензоры float64 в порядке parameters() у MLP из части I."""
    tensors = []
    for layer in net.layers:
        tensors.append(torch.tensor([[getattr(w, field) for w in n.w] for n in layer.neurons], dtype=torch.float64))
        tensors.append(torch.tensor([getattr(n.b, field) for n in layer.neurons], dtype=torch.float64))
    return tensors


def to_torch_twin(net: ValueMLP) -> MLP:
    """MLP из части I (float64) с теми же весами, что у net."""
    twin = MLP(activation=nn.ReLU, hidden=net.hidden).double()
    with torch.no_grad():
        for param, value in zip(twin.parameters(), value_mlp_tensors(net, "data"), strict=True):
            param.copy_(value)
    return twin


X_check, y_check = X_train[:32].double(), y_train[:32].double()
twin = to_torch_twin(value_net)
value_net.zero_grad()
loss_value = value_loss(value_net, X_check.tolist(), y_check.tolist())
loss_value.backward()
loss_twin = hinge_loss(twin(X_check), y_check) + l2_penalty(twin)
loss_twin.backward()

scores_value = torch.tensor([value_net(x).data for x in X_check.tolist()], dtype=torch.float64)
twin_output_error = relative_error(scores_value, twin(X_check).detach())
twin_loss_error = abs(loss_value.data - loss_twin.item()) / abs(loss_twin.item())
twin_grad_error = max(relative_error(g_value, p.grad)
                      for g_value, p in zip(value_mlp_tensors(value_net, "grad"), twin.parameters(), strict=True))
print(f"выходы: отн. ошибка {twin_output_error:.1e}; loss: {twin_loss_error:.1e}; градиенты (худший тензор): {twin_grad_error:.1e}")

# %% [markdown]
# Совпадение до ошибок округления: наш autograd и PyTorch считают одну и ту же функцию и одни и те же
# производные.
#
# **Вопрос.** Во сколько раз шаг SGD на `Value` медленнее, чем у torch-близнеца — той же сети
# (105 параметров) на том же батче из 32 объектов?
#
# Перед замером «замораживаем» сборщик мусора. Наш граф освобождается и без него (циклов в нём
# нет), но сборщик циклического мусора всё равно запускается — по счётчику созданных объектов, а
# их на каждом шаге десятки тысяч, — и при полной сборке обходит **все** живые объекты процесса,
# в том числе объекты PyTorch, matplotlib и scikit-learn. `gc.freeze()` переносит все уже
# созданные объекты в «вечное» поколение, которое сборщик больше не обходит; `gc.unfreeze()`
# возвращает их обратно.


# %%
def value_sgd_step(net: ValueMLP, X: list[list[float]], y: list[float], lr: float) -> float:
    """Один шаг SGD сети на Value по батчу (X, y): loss, backward, обновление; возвращает loss."""
    loss = value_loss(net, X, y)
    net.zero_grad()
    loss.backward()
    for p in net.parameters():
        p.data -= lr * p.grad
    return loss.data


def torch_sgd_step(model: nn.Module, X: torch.Tensor, y: torch.Tensor, lr: float) -> float:
    """Тот же шаг SGD для модели PyTorch: hinge loss + L2, backward, sgd_step; возвращает loss."""
    loss = hinge_loss(model(X), y) + l2_penalty(model)
    model.zero_grad()
    loss.backward()
    sgd_step(model, lr)
    return loss.item()


gc.collect()
print(f"объектов, за которыми следит сборщик мусора: {len(gc.get_objects())}")
gc.freeze()
try:  # lr = 0: веса не меняются, и обе сети считают одно и то же при каждом повторе
    value_step_seconds = median_seconds(lambda: value_sgd_step(value_net, X_check.tolist(), y_check.tolist(), 0.0))
    twin_step_seconds = median_seconds(lambda: torch_sgd_step(twin, X_check, y_check, 0.0), number=20)
finally:
    gc.unfreeze()
value_vs_torch_ratio = value_step_seconds / twin_step_seconds
print(f"шаг SGD на батче из {len(X_check)} объектов, сеть из {len(value_net.parameters())} параметров: "
      f"Value {1e3 * value_step_seconds:.2f} мс, PyTorch {1e3 * twin_step_seconds:.2f} мс; "
      f"время Value / время PyTorch = {value_vs_torch_ratio:.0f}")

# %% [markdown]
# Обучим сеть на `Value` обычным SGD по мини-батчам (сборщик мусора снова заморожен).

# %%
VALUE_STEPS = 200
VALUE_BATCH = 8
VALUE_LR = 0.5

X_list, y_list = X_train.double().tolist(), y_train.double().tolist()
batch_rng = random.Random(SEED)
value_net = ValueMLP(hidden=8)
value_losses = []
gc.collect()
gc.freeze()
try:
    start = time.perf_counter()
    for _ in tqdm(range(VALUE_STEPS), desc="MLP на Value", mininterval=0.5):
        batch = batch_rng.sample(range(len(X_list)), VALUE_BATCH)
        value_losses.append(value_sgd_step(value_net, [X_list[i] for i in batch], [y_list[i] for i in batch], VALUE_LR))
    value_train_seconds = time.perf_counter() - start
finally:
    gc.unfreeze()
value_test_accuracy = float(np.mean([
    (value_net(x).data > 0) == (t > 0) for x, t in zip(X_test.double().tolist(), y_test.tolist(), strict=True)
]))
print(f"{VALUE_STEPS} шагов за {value_train_seconds:.1f} с; loss {np.mean(value_losses[:20]):.3f} -> "
      f"{np.mean(value_losses[-20:]):.3f} (средние за первые и последние 20 шагов)")
print(f"accuracy на test (считает сама сеть на Value): {value_test_accuracy:.3f}")

# %% [markdown]
# Разделяющую границу рисуем torch-близнецом с теми же весами: мы только что убедились, что он
# считает то же самое, а сеть на `Value` считала бы десятки тысяч точек сетки слишком долго.

# %%
twin32 = to_torch_twin(value_net).float()
twin_test_accuracy = accuracy(twin32, X_test, y_test)
print(f"accuracy torch-близнеца на test: {twin_test_accuracy:.3f}")
fig, (ax_loss, ax_boundary) = plt.subplots(1, 2, figsize=(12, 4))
ax_loss.plot(value_losses, label="на мини-батче")
window = 20
ax_loss.plot(np.arange(window - 1, VALUE_STEPS), np.convolve(value_losses, np.ones(window) / window, mode="valid"),
             label=f"скользящее среднее по {window} шагам")
ax_loss.set_title("Обучение MLP на Value")
ax_loss.set_xlabel("шаг SGD")
ax_loss.set_ylabel("hinge + L2")
ax_loss.legend()
plot_decision_boundary(ax_boundary, torch_score_fn(twin32), X_test, y_test,
                       f"MLP на Value: test {value_test_accuracy:.3f}")
plt.show()

# %% [markdown]
# ## 7. Резюме части II
#
# * Конечные разности — прямой проход на параметр, на порядки дольше одного backward; но ими удобно
#   **проверять** градиенты.
# * Прямой проход запоминает промежуточные значения; обратный идёт в обратном топологическом
#   порядке: **upstream × локальная производная**, вклады путей **складываются**.
# * Градиент имеет форму своей переменной: $\nabla_W L = X^\top G$ для $Y = XW + \mathbf{b}$.
# * Свой autograd — магические методы, замыкания, топологическая сортировка и `+=`. Дома: векторная
#   форма цепного правила, сортировка без рекурсии и сеть на `Value`.

# %% [markdown]
# # Блиц-вопросы
#
# Ответьте устно, потом раскройте ответ. **На занятии** разбираем вопросы 3, 6 и 13 (3 мин);
# остальные — для самопроверки дома.

# %% [markdown]
# **1.** Чем тензор PyTorch отличается от массива NumPy, если оба — n-мерные массивы чисел?
#
# <details><summary>Ответ</summary>
#
# Тензор умеет жить на GPU и участвовать в автоматическом дифференцировании (`requires_grad`,
# `grad_fn`, `.backward()`). По умолчанию PyTorch создаёт float32, NumPy — float64.
# `torch.from_numpy` и `.numpy()` (на CPU) не копируют данные, а делят память.
#
# </details>

# %% [markdown]
# **2.** Какой формы будет результат сложения тензоров форм `(3, 1)` и `(4,)`? Почему?
#
# <details><summary>Ответ</summary>
#
# `(3, 4)`. Broadcasting выравнивает формы по правому краю: `(3, 1)` и `(1, 4)`; размерности равны
# или одна из них 1, и единичные размерности растягиваются.
#
# </details>

# %% [markdown]
# **3.** Почему в hinge loss метки кодируют как $-1/+1$, а не $0/1$?
#
# <details><summary>Ответ</summary>
#
# Отступ (margin) $y\cdot s$ положителен, когда знак оценки совпадает с меткой. С метками $\pm 1$
# одна формула $\max(0, 1 - y s)$ работает для обоих классов; с меткой 0 произведение всегда 0.
#
# </details>

# %% [markdown]
# **4.** Чему равен hinge loss для точки с отступом $y\cdot s = 0.3$? А с $y\cdot s = 2$? Какой у них градиент по $s$?
#
# <details><summary>Ответ</summary>
#
# $\max(0, 1 - 0.3) = 0.7$ и $0$. Градиент по $s$: $-y$ в первом случае и $0$ во втором — точки,
# классифицированные с запасом, на обучение не влияют.
#
# </details>

# %% [markdown]
# **5.** Зачем L2-регуляризация и как она меняет шаг SGD?
#
# <details><summary>Ответ</summary>
#
# Она штрафует большие веса и делает разделяющую кривую глаже: меньше переобучения (модель меньше
# подгоняется под шум обучающей выборки). Слагаемое $\alpha\|w\|^2$ добавляет к градиенту $2\alpha w$,
# то есть каждый шаг немного уменьшает веса к нулю (weight decay):
# $w \leftarrow w - \eta(\nabla L_{\text{hinge}} + 2\alpha w)$, где $L_{\text{hinge}}$ — функция потерь
# **без** штрафа (если $L$ уже включает штраф, шаг — просто $w \leftarrow w - \eta\nabla L$).
#
# </details>

# %% [markdown]
# **6.** Что станет с MLP, если убрать все нелинейности?
#
# <details><summary>Ответ</summary>
#
# Композиция линейных отображений линейна: сеть любой глубины станет линейным классификатором и
# не разделит «луны» (make_moons).
#
# </details>

# %% [markdown]
# **7.** Почему сигмоида в скрытых слоях учится медленнее ReLU?
#
# <details><summary>Ответ</summary>
#
# Не из-за насыщения: при инициализации входы сигмоид почти все малы, и $\sigma'$ в среднем почти равна своему
# максимуму $1/4$ (раздел 6.2 части I). Но при малых $z$ $\sigma(z) \approx 1/2 + z/4$, и сеть ведёт себя как линейная модель:
# сначала находит лучшую линейную модель и долго стоит на её плато. Градиент у неё меньше, но даже
# шаг обучения, увеличенный во столько же раз, не убирает плато (раздел 6.2 части I).
#
# </details>

# %% [markdown]
# **8.** Чем SVM с RBF-ядром похож на MLP и чем отличается?
#
# <details><summary>Ответ</summary>
#
# Оба строят нелинейную разделяющую кривую, и функция потерь у них почти одна (hinge + L2 при
# $C = 1/(2\alpha n)$). SVM с ядром решает выпуклую задачу в неявном пространстве признаков, заданном
# ядром: каждый её локальный минимум глобальный (веса $w$ определены однозначно, сдвиг и двойственные
# коэффициенты — не обязательно). MLP сам **учит** признаки в скрытых слоях, но его задача
# невыпуклая и решается градиентным спуском.
#
# </details>

# %% [markdown]
# **9.** Почему батчевое (векторизованное) вычисление во много раз быстрее цикла по объектам (во
# сколько — измеряет раздел 8 части I), хотя PyTorch в семинаре считает в один поток?
#
# <details><summary>Ответ</summary>
#
# Цикл платит накладные расходы (интерпретатор Python, запуск каждой операции, узлы графа autograd)
# на каждом объекте; батч платит их один раз, а арифметику делает одной матричной операцией в
# оптимизированном коде с векторными инструкциями процессора. Потоки тут ни при чём: поток один.
#
# </details>

# %% [markdown]
# **10.** Сколько параметров у MLP 2 → 100 → 100 → 1?
#
# <details><summary>Ответ</summary>
#
# $(2\cdot 100 + 100) + (100\cdot 100 + 100) + (100\cdot 1 + 1) = 300 + 10100 + 101 = 10\,501$.
#
# </details>

# %% [markdown]
# **11.** Зачем фиксировать seed в ноутбуке?
#
# <details><summary>Ответ</summary>
#
# Чтобы данные, инициализация и порядок батчей повторялись от запуска к запуску: тогда числа в
# выводе воспроизводимы, а разницу в результатах можно приписать изменению кода, а не случайности.
#
# </details>

# %% [markdown]
# **12.** Сколько прямых проходов нужно, чтобы посчитать градиент по $P$ параметрам центральными
# конечными разностями? А backprop?
#
# <details><summary>Ответ</summary>
#
# $2P$ прямых проходов. Backprop — один прямой и один обратный проход (по стоимости это порядка
# 2–3 прямых), независимо от $P$.
#
# </details>

# %% [markdown]
# **13.** Зачем прямой проход сохраняет промежуточные значения?
#
# <details><summary>Ответ</summary>
#
# Локальные производные выражаются через них: для $q\cdot z$ нужны $q$ и $z$, для tanh — его
# значение, для ReLU — знак входа. Поэтому обучение требует памяти на активации всех слоёв.
#
# </details>

# %% [markdown]
# **14.** Как выглядит цепное правило для $L(\mathbf{y}(\mathbf{x}))$, где $\mathbf{x}\in\mathbb{R}^n$, $\mathbf{y}\in\mathbb{R}^m$?
#
# <details><summary>Ответ</summary>
#
# $\frac{\partial L}{\partial x_j} = \sum_i \frac{\partial L}{\partial y_i}\frac{\partial y_i}{\partial x_j}$,
# то есть $\nabla_{\mathbf{x}} L = J^\top\nabla_{\mathbf{y}} L$, где $J = \frac{\partial\mathbf{y}}{\partial\mathbf{x}}$ — якобиан $m\times n$.
#
# </details>

# %% [markdown]
# **15.** Какой формы якобиан $\partial\mathbf{y}/\partial\mathbf{x}$ для $\mathbf{y}\in\mathbb{R}^m$,
# $\mathbf{x}\in\mathbb{R}^n$ в numerator layout? А градиент $\nabla_W L$ скаляра $L$ по матрице
# $W\in\mathbb{R}^{d\times k}$ (по нашему соглашению: градиент имеет форму своей переменной)?
#
# <details><summary>Ответ</summary>
#
# $m\times n$ (строки — компоненты $\mathbf{y}$). Градиент по $W$ имеет форму самой $W$: $d\times k$.
#
# </details>

# %% [markdown]
# **16.** Чему равен $\nabla_{\mathbf{x}}(\mathbf{x}^\top A\mathbf{x})$, если $A$ не симметрична?
#
# <details><summary>Ответ</summary>
#
# $(A + A^\top)\mathbf{x}$. Формула $2A\mathbf{x}$ верна только для симметричной $A$.
#
# </details>

# %% [markdown]
# **17.** $Y = XW + \mathbf{b}$, $X$: $N\times d$, $W$: $d\times k$, $G = \nabla_Y L$. Чему равны
# $\nabla_W L$ и $\nabla_{\mathbf{b}} L$? Подсказка: ориентируйтесь на формы.
#
# <details><summary>Ответ</summary>
#
# $\nabla_W L = X^\top G$ ($d\times k$ получается только так); $\nabla_{\mathbf{b}} L$ — суммы $G$ по
# столбцам (по батчу), вектор длины $k$: $\mathbf{b}$ использован в каждой из $N$ строк.
#
# </details>

# %% [markdown]
# **18.** Как сложение, умножение и max распределяют входящий градиент?
#
# <details><summary>Ответ</summary>
#
# Сложение копирует upstream обоим входам; умножение отдаёт каждому входу upstream × **другой** вход;
# max отдаёт весь upstream большему входу, меньшему — 0 (при равенстве входов `torch.maximum` делит
# upstream поровну); ReLU пропускает upstream при $x > 0$.
#
# </details>

# %% [markdown]
# **19.** Почему PyTorch накапливает градиенты в `.grad`, а не перезаписывает? Что будет, если
# забыть `zero_grad()`?
#
# <details><summary>Ответ</summary>
#
# Накопление позволяет собрать градиент из нескольких вызовов `backward()`: по слагаемым функции потерь
# или по частям большого батча (gradient accumulation).
# Без обнуления каждый шаг использует сумму градиентов всех прошлых шагов — обучение идёт неверно.
#
# </details>

# %% [markdown]
# **20.** Чем листовой (leaf) тензор отличается от нелистового? Почему `.grad` у промежуточного тензора `None`?
#
# <details><summary>Ответ</summary>
#
# Лист создан пользователем (`grad_fn is None`), нелистовой — результат операции. `.grad` сохраняется
# только у листьев с `requires_grad=True` — ради экономии памяти; для промежуточного нужен `retain_grad()`.
#
# </details>

# %% [markdown]
# **21.** Зачем классу `Value` метод `__radd__`?
#
# <details><summary>Ответ</summary>
#
# Для выражений «число + Value»: `int.__add__` возвращает `NotImplemented`, и Python вызывает
# `Value.__radd__`. Без него не работают `2 + v` и `sum(values)` (sum начинает с 0).
#
# </details>

# %% [markdown]
# **22.** Почему в `_backward` пишут `self.grad += ...`, а не `self.grad = ...`?
#
# <details><summary>Ответ</summary>
#
# Узел может быть входом нескольких операций (`b = a + a`, общий вес), и вклады всех путей надо
# сложить. С `=` последний вклад затирает остальные: для `a + a` получится 1 вместо 2.
#
# </details>

# %% [markdown]
# **23.** Зачем перед обратным проходом топологическая сортировка, и почему мы сделали её без рекурсии?
#
# <details><summary>Ответ</summary>
#
# Узел можно обрабатывать, только когда все его потребители отдали ему градиент — это обратный
# топологический порядок. Рекурсивный обход упирается в лимит рекурсии Python (по умолчанию 1000,
# `sys.getrecursionlimit()`) на глубоких графах; явный стек такого лимита не имеет.
#
# </details>

# %% [markdown]
# **24.** Что захватывает замыкание `_backward` в `Value.__mul__`?
#
# <details><summary>Ответ</summary>
#
# Входы операции `self` и `other` (ссылки на объекты): из них берутся значения для локальных производных,
# и к их `.grad` прибавляется вклад. Каждый вызов `__mul__` создаёт своё замыкание со своими входами.
#
# </details>

# %% [markdown]
# **25.** Почему `tanh` в `Value` считается через `math.tanh`, а не по формуле $(e^{2x} - 1)/(e^{2x} + 1)$?
#
# <details><summary>Ответ</summary>
#
# При $x = 1000$ $e^{2x}$ не помещается в float: формула даёт переполнение (`OverflowError` у `math.exp`,
# `inf/inf = nan` у NumPy), а `math.tanh(1000) = 1.0`, и производная $1 - t^2 = 0$ корректна.
#
# </details>

# %% [markdown]
# **26.** Почему сеть на `Value` даёт те же градиенты, что PyTorch, но шаг SGD у неё во много раз
# медленнее, чем у torch-близнеца с теми же весами на том же батче (раздел 6.8 части II)?
#
# <details><summary>Ответ</summary>
#
# Математика одна и та же, но `Value` создаёт объект Python (узел графа и замыкание) на каждое
# скалярное действие, а PyTorch делает одну операцию на целую матрицу в скомпилированном коде.
# Вдобавок каждый объект Python учитывает сборщик мусора; поэтому при обучении на `Value` мы его
# замораживаем (`gc.freeze()`).
#
# </details>

# %% [markdown]
# # Упражнения для самостоятельной работы
#
# В каждом упражнении есть заготовка (функция с `raise NotImplementedError`) и проверка. Проверка
# печатает ✅ или ❌ с причиной и никогда не останавливает ноутбук, поэтому его по-прежнему можно
# выполнить сверху вниз. Пока заготовки не заполнены, все проверки честно печатают ❌.
#
# Сначала выполните ячейку со вспомогательными функциями проверок (читать её не обязательно).

# %%
import ast
import inspect
import textwrap
from typing import NamedTuple

from torch.overrides import TorchFunctionMode


def run_check(title: str, check: Callable[[], None]) -> bool:
    """Запускает проверку упражнения, печатает ✅/❌ и никогда не выбрасывает исключений."""
    try:
        check()
    except NotImplementedError:
        print(f"❌ {title}: ещё не решено (NotImplementedError)")
        return False
    except Exception as error:  # любая ошибка решения — это «не пройдено», а не падение ноутбука
        print(f"❌ {title}: {type(error).__name__}: {error}")
        return False
    print(f"✅ {title}: пройдено")
    return True


exercise_results: dict[str, bool] = {}  # итоги проверок: название упражнения -> пройдено ли


def require(condition: bool, message: str) -> None:
    """Выбрасывает AssertionError с сообщением, если условие ложно."""
    if not condition:
        raise AssertionError(message)


def nearly_equal(a: float, b: float, tol: float = 1e-9) -> bool:
    """Совпадают ли два числа с относительной точностью tol (абсолютной — около нуля)."""
    return math.isfinite(a) and abs(a - b) <= tol * max(1.0, abs(b))


def source_names(fn: Callable) -> set[str]:
    """Имена, атрибуты и импорты в исходном коде fn; AssertionError, если исходник не прочитать."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError) as error:
        raise AssertionError(f"не удалось прочитать исходный код решения ({type(error).__name__}): "
                             "напишите функцию через def в ячейке ноутбука") from None
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(part for alias in node.names for part in alias.name.split("."))
            names.update((node.module or "").split(".") if isinstance(node, ast.ImportFrom) else ())
    return names


def forbid(fn: Callable, names: set[str]) -> None:
    """Проверяет, что в исходном коде решения нет запрещённых имён (готовых ответов)."""
    used = source_names(fn) & names
    require(not used, f"в решении нельзя использовать: {', '.join(sorted(used))}")


#: модули готового дифференцирования; torch.autograd (backward, grad) и torch.autograd.graph добавляются там,
#: где autograd запрещён совсем
READY_MADE_AUTOGRAD = ("torch.autograd.functional", "torch.autograd.forward_ad", "torch._functorch", "torch.func.")
ANY_AUTOGRAD = (*READY_MADE_AUTOGRAD, "torch.autograd.graph", "torch.autograd.__init__")


class TorchCalls(TorchFunctionMode):
    """Внутри with записывает имя каждой вызванной функции или метода PyTorch."""

    def __init__(self) -> None:
        """Начинает с пустого списка вызовов."""
        super().__init__()
        self.names: list[str] = []

    def __torch_function__(self, func: Callable, types: tuple, args: tuple = (), kwargs: dict | None = None) -> object:
        """Запоминает имя func и выполняет её как обычно."""
        self.names.append(getattr(func, "__name__", repr(func)))
        return func(*args, **(kwargs or {}))


class Trace(NamedTuple):
    """Что происходило при вызове решения: результат, число вызовов Python-функций, вызовы PyTorch, модули."""

    result: object
    python_calls: int
    torch_calls: list[str]
    modules: set[str]


def trace_call(fn: Callable, *args: object) -> Trace:
    """Вызывает fn(*args), считая вызовы Python-функций (sys.setprofile) и функций PyTorch (TorchFunctionMode)."""
    counter = {"calls": 0}
    modules: set[str] = set()

    def profiler(frame: object, event: str, arg: object) -> None:
        """Считает вызовы и запоминает модуль каждой вызванной функции Python."""
        if event == "call":
            counter["calls"] += 1
            name = frame.f_globals.get("__name__", "")
            modules.add(f"{name}.__init__" if frame.f_code.co_filename.endswith("__init__.py") else name)
        elif event == "c_call" and getattr(arg, "__name__", "") == "run_backward":
            modules.add("torch.autograd.graph")  # движок autograd, вызванный напрямую

    recorder, previous = TorchCalls(), sys.getprofile()
    sys.setprofile(profiler)
    try:
        with recorder:
            result = fn(*args)
    finally:
        intact = sys.getprofile() is profiler
        sys.setprofile(previous)
    require(intact, "решение не должно менять sys.setprofile")
    return Trace(result, counter["calls"], recorder.names, modules)


def forbid_modules(traced: Trace, prefixes: tuple[str, ...], what: str) -> None:
    """Проверяет, что при вызове решения не работал код из модулей с такими префиксами."""
    used = sorted(m for m in traced.modules if m.startswith(prefixes))
    require(not used, f"{what} (решение вызывало {', '.join(used[:3])})")

# %% [markdown]
# ### Упражнение 1. Сигмоида в `Value`
#
# Напишите `value_sigmoid(x)`: **один** новый узел графа со значением
# $\sigma(x) = \frac{1}{1 + e^{-x}}$ и локальной производной $\sigma(x)(1 - \sigma(x))$
# (по образцу `Value.tanh`; узел создаётся как `Value(значение, (x,), "sigmoid")`).
# Значение должно быть конечным и верным и при $x = \pm 1000$: `math.exp(1000)` переполняется.
# Решив, можно добавить метод в класс: `Value.sigmoid = value_sigmoid`.

# %%
def check_sigmoid(value_sigmoid: Callable[[Value], Value]) -> bool:
    """Проверка упражнения 1: значение, производная, один узел, устойчивость и накопление градиента."""

    def check() -> None:
        """Сравнивает с torch.sigmoid в float64."""
        for x0 in (-1000.0, -30.0, -2.0, -0.5, 0.0, 0.7, 3.0, 30.0, 1000.0):
            x = Value(x0)
            out = value_sigmoid(x)
            require(isinstance(out, Value), "нужно вернуть Value")
            require(out._prev == (x,) and topological_sort(out) == [x, out],
                    "сигмоида должна быть одним узлом графа, чей единственный вход — x")
            out.backward()
            xt = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
            torch.sigmoid(xt).backward()
            require(nearly_equal(out.data, torch.sigmoid(xt).item()), f"σ({x0}) = {out.data}, а должно быть {torch.sigmoid(xt).item()}")
            require(nearly_equal(x.grad, xt.grad.item()), f"σ'({x0}) = {x.grad}, а должно быть {xt.grad.item()}")
        a = Value(0.8)
        (value_sigmoid(a) * a).backward()  # a входит в граф дважды
        at = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
        (torch.sigmoid(at) * at).backward()
        require(nearly_equal(a.grad, at.grad.item()), "градиент переиспользованного узла: нужно += , а не =")

    return run_check("Упражнение 1 (сигмоида)", check)


# %%
def value_sigmoid(x: Value) -> Value:
    """σ(x) = 1 / (1 + e^(−x)) одним узлом графа; локальная производная σ(1 − σ)."""
    raise NotImplementedError("Упражнение 1: напишите value_sigmoid")


exercise_results["sigmoid"] = check_sigmoid(value_sigmoid)

# %% [markdown]
# ### Упражнение 2. Степень с показателем-`Value`
#
# Напишите `value_pow(base, exponent)` для $a^b$, где показатель $b$ — тоже `Value` (или число).
# Локальные производные: $\frac{\partial a^b}{\partial a} = b\,a^{b-1}$ и
# $\frac{\partial a^b}{\partial b} = a^b\ln a$ (считаем $a > 0$). Один узел с входами `(base, exponent)`.

# %%
def check_pow(value_pow: Callable[[Value, "Value | float"], Value]) -> bool:
    """Проверка упражнения 2: значение и обе производные против PyTorch, включая a ** a."""

    def check() -> None:
        """Сравнивает с torch.pow в float64."""
        for a0, b0 in ((0.5, -1.3), (1.7, 0.0), (3.0, 2.5), (2.0, 3.0), (0.9, 10.0)):
            a, b = Value(a0), Value(b0)
            out = value_pow(a, b)
            require(isinstance(out, Value), "нужно вернуть Value")
            require(out._prev == (a, b) and set(topological_sort(out)) == {a, b, out},
                    "степень должна быть одним узлом графа со входами (base, exponent)")
            out.backward()
            at, bt = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a0, b0))
            (at**bt).backward()
            require(nearly_equal(out.data, a0**b0), f"{a0} ** {b0} = {out.data}, а должно быть {a0 ** b0}")
            require(nearly_equal(a.grad, at.grad.item()), f"∂/∂a при a={a0}, b={b0}: {a.grad}, а должно быть {at.grad.item()}")
            require(nearly_equal(b.grad, bt.grad.item()), f"∂/∂b при a={a0}, b={b0}: {b.grad}, а должно быть {bt.grad.item()}")
        a = Value(1.5)
        out = value_pow(a, 2.0)
        require(len(topological_sort(out)) == 3 and out._prev[0] is a, "показатель-число: один узел, вход base и узел-число")
        out.backward()
        require(nearly_equal(out.data, 2.25) and nearly_equal(a.grad, 3.0), "показатель-число тоже должен работать")
        a = Value(1.5)
        value_pow(a, a).backward()  # d(a^a)/da = a^a (ln a + 1)
        require(nearly_equal(a.grad, 1.5**1.5 * (math.log(1.5) + 1)), "для a ** a вклады двух путей нужно сложить")

    return run_check("Упражнение 2 (степень)", check)


# %%
def value_pow(base: Value, exponent: "Value | float") -> Value:
    """base ** exponent, где exponent — Value или число; base > 0."""
    raise NotImplementedError("Упражнение 2: напишите value_pow")


exercise_results["pow"] = check_pow(value_pow)

# %% [markdown]
# ### Упражнение 3. Векторизуйте цикл
#
# Ниже — матрица попарных квадратов расстояний $D_{ij} = \|\mathbf{a}_i - \mathbf{b}_j\|^2$ двумя
# циклами. Напишите `pairwise_sq_distances(A, B)` **без циклов** в каком бы то ни было виде (`for`,
# `while`, списковые включения, `map`, рекурсия, вызов другой функции с циклом): через broadcasting
# или через $\|\mathbf{a}\|^2 + \|\mathbf{b}\|^2 - 2\,\mathbf{a}^\top\mathbf{b}$ (`torch.cdist` не использовать).
# Проверка поведенческая: число операций PyTorch и вызовов функций Python не должно расти с
# размером входа.

# %%
def pairwise_sq_distances_loop(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Эталон: D[i, j] = ‖A[i] − B[j]‖² двумя циклами Python."""
    D = torch.empty(A.shape[0], B.shape[0], dtype=A.dtype)
    for i in range(A.shape[0]):
        for j in range(B.shape[0]):
            D[i, j] = ((A[i] - B[j]) ** 2).sum()
    return D


def check_pairwise(pairwise_sq_distances: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Проверка упражнения 3: совпадение с циклом на разных формах и отсутствие циклов."""

    def check() -> None:
        """Сравнивает с эталоном и ищет циклы в исходном коде."""
        gen_ex = torch.Generator().manual_seed(3)
        for n_a, n_b, dim in ((7, 5, 3), (1, 6, 4), (4, 4, 1)):
            A = torch.randn(n_a, dim, dtype=torch.float64, generator=gen_ex)
            B = torch.randn(n_b, dim, dtype=torch.float64, generator=gen_ex)
            D = pairwise_sq_distances(A, B)
            require(isinstance(D, torch.Tensor) and D.shape == (n_a, n_b), f"нужен тензор формы {(n_a, n_b)}")
            require(torch.allclose(D, pairwise_sq_distances_loop(A, B), atol=1e-10), "значения не совпадают с циклом")
        forbid(pairwise_sq_distances, {"cdist"})
        traces = []
        for n_a, n_b in ((1, 1), (6, 5), (60, 50)):  # первый вызов — разминка (ленивые импорты)
            traces.append(trace_call(pairwise_sq_distances, torch.ones(n_a, 3), torch.zeros(n_b, 3)))
        small, large = traces[1], traces[2]
        to_python = {"tolist", "item", "numpy", "__iter__", "unbind", "__array__", "__float__", "cdist"}
        require(not to_python & set(large.torch_calls), "не переводите тензоры в числа и списки Python и не берите cdist")
        require(small.python_calls == large.python_calls and len(small.torch_calls) == len(large.torch_calls),
                f"число операций растёт с размером входа ({len(small.torch_calls)} -> {len(large.torch_calls)} "
                f"операций PyTorch, {small.python_calls} -> {large.python_calls} вызовов Python): в решении есть цикл")

    return run_check("Упражнение 3 (векторизация)", check)


# %%
def pairwise_sq_distances(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """D[i, j] = ‖A[i] − B[j]‖² без циклов; A: (n, d), B: (m, d), D: (n, m)."""
    raise NotImplementedError("Упражнение 3: напишите pairwise_sq_distances")


exercise_results["pairwise"] = check_pairwise(pairwise_sq_distances)

# %% [markdown]
# ### Упражнение 4. Градиент softmax cross-entropy
#
# В задаче классификации на $C$ классов модель выдаёт для объекта вектор **логитов**
# $\mathbf{z} \in \mathbb{R}^C$ (произвольных чисел), а **softmax** превращает их в вероятности классов:
# $\operatorname{softmax}(\mathbf{z})_c = e^{z_c} / \sum_{k=1}^{C} e^{z_k}$ (все положительны, сумма 1).
# **Кросс-энтропия** (cross-entropy) — минус логарифм вероятности правильного класса $t$:
# $-\log\operatorname{softmax}(\mathbf{z})_t$; она мала, когда модель уверенно права.
#
# Для логитов батча $Z \in \mathbb{R}^{N\times C}$ и правильных классов $t_n$ средняя кросс-энтропия
# $L = -\frac{1}{N}\sum_n \log\operatorname{softmax}(Z_n)_{t_n}$. Выведите на бумаге
# $\nabla_Z L = \frac{1}{N}\big(\operatorname{softmax}(Z) - \operatorname{onehot}(t)\big)$ и напишите
# `softmax_cross_entropy_grad(Z, t)` **без autograd** (ни `.backward`, ни `torch.autograd`,
# ни `torch.func`, ни `F.cross_entropy`; проверка следит за тем, какой код работает при вызове).
# Логиты бывают большими: считайте softmax устойчиво (вычтите максимум строки или возьмите `torch.softmax`).
#
# **Подсказка к выводу.** Для одного объекта $-\log\operatorname{softmax}(\mathbf{z})_t = -z_t + \log\sum_k e^{z_k}$.
# Производная первого слагаемого по $z_c$ равна $-[c = t]$, второго — $e^{z_c} / \sum_k e^{z_k}$.

# %%
def check_softmax_ce_grad(softmax_cross_entropy_grad: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Проверка упражнения 4: совпадение с autograd от F.cross_entropy и отказ от autograd в решении."""

    def check() -> None:
        """Сравнивает с autograd на нескольких батчах, в том числе с огромными логитами."""
        gen_ex = torch.Generator().manual_seed(4)
        for n_rows, n_classes, scale in ((5, 3, 1.0), (1, 4, 1.0), (6, 2, 1000.0)):
            Z = scale * torch.randn(n_rows, n_classes, dtype=torch.float64, generator=gen_ex)
            t = torch.randint(0, n_classes, (n_rows,), generator=gen_ex)
            Zr = Z.clone().requires_grad_(True)
            nn.functional.cross_entropy(Zr, t).backward()
            traced = trace_call(softmax_cross_entropy_grad, Z, t)
            forbid_modules(traced, ANY_AUTOGRAD, "в решении нельзя пользоваться autograd")
            grad = traced.result
            require(isinstance(grad, torch.Tensor) and grad.shape == Z.shape, f"нужен тензор формы {tuple(Z.shape)}")
            require(not grad.requires_grad, "в решении нельзя пользоваться autograd")
            require(bool(torch.isfinite(grad).all()), "в градиенте inf или nan: softmax посчитан неустойчиво")
            require(relative_error(grad, Zr.grad) < 1e-12, f"не совпадает с autograd (отн. ошибка {relative_error(grad, Zr.grad):.1e})")
        forbid(softmax_cross_entropy_grad, {"backward", "autograd", "func", "cross_entropy", "nll_loss"})

    return run_check("Упражнение 4 (softmax cross-entropy)", check)


# %%
def softmax_cross_entropy_grad(Z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """∇_Z средней кросс-энтропии для логитов Z (N, C) и классов t (N,), без autograd."""
    raise NotImplementedError("Упражнение 4: напишите softmax_cross_entropy_grad")


exercise_results["softmax_ce"] = check_softmax_ce_grad(softmax_cross_entropy_grad)

# %% [markdown]
# ### Упражнение 5. Якобиан обратными проходами
#
# Напишите `jacobian(f, x)` для $f: \mathbb{R}^n \to \mathbb{R}^m$: матрицу $m\times n$ (numerator
# layout, как в разделе 4). Reverse mode даёт за один обратный проход одну **строку** якобиана:
# градиент $y_i$ по $\mathbf{x}$. Используйте `torch.autograd.grad` или `.backward()`, но не готовые
# `torch.autograd.functional`, `torch.func` и forward mode (`torch.autograd.forward_ad`). Чтобы пройти
# один и тот же граф $m$ раз, нужен `retain_graph=True` (раздел 1.6 части I). Сам `x` не меняйте
# (не включайте у него `requires_grad`): работайте с копией.

# %%
def check_jacobian_rows(jacobian: Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor], torch.Tensor]) -> bool:
    """Проверка упражнения 5: совпадение с torch.autograd.functional.jacobian на прямоугольных якобианах."""

    def check() -> None:
        """Сравнивает на трёх функциях разной формы; проверяет, что x не испорчен."""
        gen_ex = torch.Generator().manual_seed(5)
        A = torch.randn(4, 3, dtype=torch.float64, generator=gen_ex)
        functions = [
            lambda v: A @ v,
            lambda v: torch.stack([v[0] * v[1], torch.sin(v[2]) + v[0] ** 2]),
            lambda v: torch.tanh(torch.outer(v, v).reshape(-1)[:5]),
        ]
        for f, size in zip(functions, (3, 3, 2), strict=True):
            x = torch.randn(size, dtype=torch.float64, generator=gen_ex)
            x_before = x.clone()
            traced = trace_call(jacobian, f, x)
            forbid_modules(traced, READY_MADE_AUTOGRAD, "готовые якобианы и torch.func использовать нельзя")
            J, expected = traced.result, torch.autograd.functional.jacobian(f, x)
            require(isinstance(J, torch.Tensor) and J.shape == expected.shape,
                    f"нужна форма (m, n) = {tuple(expected.shape)}")
            require(relative_error(J.detach(), expected) < 1e-12, "значения не совпадают с якобианом")
            require(torch.equal(x, x_before) and not x.requires_grad, "функция не должна менять x")
        forbid(jacobian, {"functional", "func", "forward_ad", "jacrev", "jacfwd", "vmap", "hessian", "jvp", "vjp"})

    return run_check("Упражнение 5 (якобиан)", check)


# %%
def jacobian(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Якобиан f в точке x формы (m, n): строка i — градиент f(x)[i] по x."""
    raise NotImplementedError("Упражнение 5: напишите jacobian")


exercise_results["jacobian"] = check_jacobian_rows(jacobian)

# %% [markdown]
# ### Упражнение 6. Обратный проход линейного слоя
#
# Для $Y = XW + \mathbf{b}$ и пришедшего сверху $G = \nabla_Y L$ верните тройку
# $(\nabla_X L, \nabla_W L, \nabla_{\mathbf{b}} L)$ по формулам раздела 4.4, **без autograd**.

# %%
def check_linear_backward(
    linear_backward: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]],
) -> bool:
    """Проверка упражнения 6: три градиента против autograd на неквадратных формах."""

    def check() -> None:
        """Сравнивает с autograd для L = sum(G * Y)."""
        gen_ex = torch.Generator().manual_seed(6)
        for n_rows, d_in, d_out in ((5, 3, 4), (1, 2, 3)):
            X = torch.randn(n_rows, d_in, dtype=torch.float64, generator=gen_ex, requires_grad=True)
            W = torch.randn(d_in, d_out, dtype=torch.float64, generator=gen_ex, requires_grad=True)
            b = torch.randn(d_out, dtype=torch.float64, generator=gen_ex, requires_grad=True)
            G = torch.randn(n_rows, d_out, dtype=torch.float64, generator=gen_ex)
            ((X @ W + b) * G).sum().backward()  # тогда ∇_Y L = G
            traced = trace_call(linear_backward, X.detach(), W.detach(), b.detach(), G)
            forbid_modules(traced, ANY_AUTOGRAD, "в решении нельзя пользоваться autograd")
            result = traced.result
            require(isinstance(result, tuple) and len(result) == 3, "нужно вернуть тройку (dX, dW, db)")
            for name, got, param in zip(("dX", "dW", "db"), result, (X, W, b), strict=True):
                require(isinstance(got, torch.Tensor) and got.shape == param.shape and not got.requires_grad,
                        f"{name}: нужен тензор формы {tuple(param.shape)}, посчитанный без autograd")
                require(relative_error(got, param.grad) < 1e-12, f"{name}: значения неверны")
        forbid(linear_backward, {"backward", "autograd", "func"})

    return run_check("Упражнение 6 (линейный слой)", check)


# %%
def linear_backward(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor, G: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(∇_X L, ∇_W L, ∇_b L) для Y = XW + b по градиенту G = ∇_Y L, без autograd."""
    raise NotImplementedError("Упражнение 6: напишите linear_backward")


exercise_results["linear"] = check_linear_backward(linear_backward)

# %% [markdown]
# Итог по всем упражнениям:

# %%
print(f"пройдено упражнений: {sum(exercise_results.values())} из {len(exercise_results)}")
notebook_seconds = time.perf_counter() - NOTEBOOK_START
print(f"весь ноутбук (от ячейки «Подготовка» до этой) выполнился за {notebook_seconds:.0f} с")

# %% [markdown]
# Эталонные решения лежат в `seminars/solutions/exercises.py` — загляните туда, когда ваши проверки
# станут зелёными (или если совсем застряли).

# %% [markdown]
# # Связанные домашние задания
#
# Задания лежат в папке `homeworks/` репозитория (условие — в `README.md` каждой папки), каждое
# стоит 1 балл и проверяется автоматически:
#
# * [`mlp`](../homeworks/mlp/README.md) — линейный слой со своим обратным проходом (формулы
#   раздела 4.4 части II), MLP из таких слоёв и цикл обучения без `torch.optim` на рукописных
#   цифрах;
# * [`weight-init`](../homeworks/weight-init/README.md) — функции инициализации весов из
#   `torch.nn.init`, написанные с нуля, и эксперименты: как масштаб весов влияет на сигнал в
#   глубокой сети;
# * [`activations`](../homeworks/activations/README.md) — восемь функций активации (ReLU, Sigmoid,
#   GELU, …) с прямым и обратным проходом, написанными вручную, как методы `Value` в разделе 6.

# %% [markdown]
# # Дополнительные материалы
#
# * [Документация PyTorch](https://pytorch.org/docs/stable/index.html) и
#   [учебные материалы PyTorch](https://pytorch.org/tutorials/) (tutorials).
# * [Backpropagation calculus](https://www.youtube.com/watch?v=tIeHLnjs5U8) — видео 3Blue1Brown о
#   цепном правиле в обратном распространении ошибки.
# * [micrograd](https://github.com/karpathy/micrograd) — крошечный autograd Андрея Карпатого; наш
#   `Value` устроен в том же стиле.
# * Матричное дифференцирование — ресурсы из раздела 4.5 части II.
